; Socket filters may not set skb->mark.
; type: socket_filter
; expect: reject "invalid bpf_context access"
*(u32 *)(r1 + 8) = 1
r0 = 0
exit
