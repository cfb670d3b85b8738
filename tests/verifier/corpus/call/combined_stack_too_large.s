; main uses 264 bytes (272 rounded to 16) and f 256: 528 > 512.
; type: socket_filter
; expect: reject "combined stack size"
*(u64 *)(r10 - 264) = 0
call f
r0 = 0
exit
f:
*(u64 *)(r10 - 256) = 0
r0 = 0
exit
