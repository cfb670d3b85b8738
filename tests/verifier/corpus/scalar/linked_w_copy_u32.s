; w3 = w2 copies a value with a zero high half exactly, so the bound on w3 holds for r2.
; The index r2 writes one byte at fp-8 + r2: inside the frame iff r2 is in [-504, 7].
; type: syscall
; expect: accept
r2 = *(u32 *)(r1 + 0)
w3 = w2
if w3 > 7 goto out
r4 = r10
r4 += -8
r4 += r2
*(u8 *)(r4 + 0) = 1
out:
r0 = 0
exit
