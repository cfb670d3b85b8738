; Stack bounds: writes [fp-516, fp-512); the frame is [fp-512, fp).
; type: socket_filter
; expect: reject "out of bounds"
*(u32 *)(r10 - 516) = 0
r0 = 0
exit
