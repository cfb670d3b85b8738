; Atomic operations on the context are not allowed.
; type: socket_filter
; expect: reject "BPF_ATOMIC stores into R1 ctx is not allowed"
r2 = 1
lock *(u32 *)(r1 + 48) += w2
r0 = 0
exit
