; skb->mark is 4 bytes: an 8-byte load of it is refused.
; type: sched_cls
; expect: reject "invalid bpf_context access"
r0 = *(u64 *)(r1 + 8)
exit
