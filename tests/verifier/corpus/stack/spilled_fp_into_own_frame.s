; A pointer to the stack may be spilled into the stack of the same frame and used again.
; type: socket_filter
; expect: accept
r2 = r10
r2 += -16
*(u64 *)(r10 - 8) = r2
r3 = *(u64 *)(r10 - 8)
*(u64 *)(r3 + 0) = 5
r0 = *(u64 *)(r10 - 16)
exit
