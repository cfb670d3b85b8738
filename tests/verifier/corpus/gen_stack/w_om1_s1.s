; Stack bounds: writes [fp-1, fp+0); the frame is [fp-512, fp).
; type: socket_filter
; expect: accept
*(u8 *)(r10 - 1) = 0
r0 = 0
exit
