; x & -8 of a byte is a multiple of 8 in [0, 248]: an 8-byte access at fp-256 + x stays in the
; 256 bytes below the frame pointer.
; type: syscall
; expect: accept
r2 = *(u8 *)(r1 + 0)
r2 &= -8
r4 = r10
r4 += -256
r4 += r2
*(u64 *)(r4 + 0) = 1
r0 = 0
exit
