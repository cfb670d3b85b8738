; Socket filters may use the cb[] scratch area.
; type: socket_filter
; expect: accept
*(u32 *)(r1 + 48) = 1
*(u32 *)(r1 + 64) = 2
r0 = *(u32 *)(r1 + 48)
exit
