; Falling through 'x & 0xf8' clears bits 3-7 of a byte: [0, 7].
; The index r2 writes one byte at fp-8 + r2: inside the frame iff r2 is in [-504, 7].
; type: syscall
; expect: accept
r2 = *(u8 *)(r1 + 0)
if r2 & 0xf8 goto out
r4 = r10
r4 += -8
r4 += r2
*(u8 *)(r4 + 0) = 1
out:
r0 = 0
exit
