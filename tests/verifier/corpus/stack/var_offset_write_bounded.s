; fp-16 + [0, 7] with a 1-byte store stays inside the frame.
; type: syscall
; expect: accept
r2 = *(u32 *)(r1 + 0)
r2 &= 7
r3 = r10
r3 += -16
r3 += r2
*(u8 *)(r3 + 0) = 1
r0 = 0
exit
