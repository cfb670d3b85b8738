; Stack bounds: writes [fp+8, fp+16); the frame is [fp-512, fp).
; type: socket_filter
; expect: reject "out of bounds"
*(u64 *)(r10 + 8) = 0
r0 = 0
exit
