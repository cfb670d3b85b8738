; A u16 shifted right by 5 is up to 2047.
; The index r2 writes one byte at fp-8 + r2: inside the frame iff r2 is in [-504, 7].
; type: syscall
; expect: reject "invalid variable-offset write to stack"
r2 = *(u16 *)(r1 + 0)
r2 >>= 5
r4 = r10
r4 += -8
r4 += r2
*(u8 *)(r4 + 0) = 1
out:
r0 = 0
exit
