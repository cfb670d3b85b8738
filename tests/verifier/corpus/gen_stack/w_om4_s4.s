; Stack bounds: writes [fp-4, fp+0); the frame is [fp-512, fp).
; type: socket_filter
; expect: accept
*(u32 *)(r10 - 4) = 0
r0 = 0
exit
