; A sign-extending byte load is in [-128, 127]; masking with 7 gives [0, 7].
; type: syscall
; expect: accept
r2 = *(s8 *)(r1 + 0)
r2 &= 7
r4 = r10
r4 += -8
r4 += r2
*(u8 *)(r4 + 0) = 1
r0 = 0
exit
