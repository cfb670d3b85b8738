; Stack bounds: writes [fp+0, fp+1); the frame is [fp-512, fp).
; type: socket_filter
; expect: reject "out of bounds"
*(u8 *)(r10 + 0) = 0
r0 = 0
exit
