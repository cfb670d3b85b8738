; Stack bounds: writes [fp-2, fp+2); the frame is [fp-512, fp).
; type: socket_filter
; expect: reject "out of bounds"
*(u32 *)(r10 - 2) = 0
r0 = 0
exit
