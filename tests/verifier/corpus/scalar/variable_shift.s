; 1 << y for y in {0, 2} is in [1, 4].
; The index r2 writes one byte at fp-8 + r2: inside the frame iff r2 is in [-504, 7].
; type: syscall
; expect: accept
; kernel: differs "Linux forgets the value of a shift by a non-constant amount"
r3 = *(u64 *)(r1 + 0)
r3 &= 2
r2 = 1
r2 <<= r3
r4 = r10
r4 += -8
r4 += r2
*(u8 *)(r4 + 0) = 1
out:
r0 = 0
exit
