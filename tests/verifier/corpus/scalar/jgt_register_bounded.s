; Falling through 'x > r3' with r3 in [0, 7] leaves x in [0, 7].
; The index r2 writes one byte at fp-8 + r2: inside the frame iff r2 is in [-504, 7].
; type: syscall
; expect: accept
r2 = *(u64 *)(r1 + 0)
r3 = *(u64 *)(r1 + 8)
r3 &= 7
if r2 > r3 goto out
r4 = r10
r4 += -8
r4 += r2
*(u8 *)(r4 + 0) = 1
out:
r0 = 0
exit
