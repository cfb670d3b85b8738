; skb->len is read-only.
; type: sched_cls
; expect: reject "invalid bpf_context access"
*(u32 *)(r1 + 0) = 7
r0 = 0
exit
