; Stack bounds: writes [fp-513, fp-512); the frame is [fp-512, fp).
; type: socket_filter
; expect: reject "out of bounds"
*(u8 *)(r10 - 513) = 0
r0 = 0
exit
