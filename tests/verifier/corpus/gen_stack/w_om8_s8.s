; Stack bounds: writes [fp-8, fp+0); the frame is [fp-512, fp).
; type: socket_filter
; expect: accept
*(u64 *)(r10 - 8) = 0
r0 = 0
exit
