; A byte plus 0xfffffff9 in 32 bits wraps for most values.
; The index r2 writes one byte at fp-8 + r2: inside the frame iff r2 is in [-504, 7].
; type: syscall
; expect: reject "invalid variable-offset write to stack"
r2 = *(u8 *)(r1 + 0)
w2 += -7
r4 = r10
r4 += -8
r4 += r2
*(u8 *)(r4 + 0) = 1
out:
r0 = 0
exit
