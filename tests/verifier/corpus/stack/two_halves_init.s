; Both halves of the slot are written, so the 8-byte read is fine.
; type: socket_filter
; expect: accept
*(u32 *)(r10 - 8) = 1
*(u32 *)(r10 - 4) = 2
r0 = *(u64 *)(r10 - 8)
exit
