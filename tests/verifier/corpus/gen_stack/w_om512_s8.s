; Stack bounds: writes [fp-512, fp-504); the frame is [fp-512, fp).
; type: socket_filter
; expect: accept
*(u64 *)(r10 - 512) = 0
r0 = 0
exit
