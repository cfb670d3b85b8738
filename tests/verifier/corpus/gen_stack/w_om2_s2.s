; Stack bounds: writes [fp-2, fp+0); the frame is [fp-512, fp).
; type: socket_filter
; expect: accept
*(u16 *)(r10 - 2) = 0
r0 = 0
exit
