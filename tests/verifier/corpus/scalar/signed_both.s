; 'x s> 7' and 'x s< 0' leave [0, 7].
; The index r2 writes one byte at fp-8 + r2: inside the frame iff r2 is in [-504, 7].
; type: syscall
; expect: accept
r2 = *(u64 *)(r1 + 0)
if r2 s> 7 goto out
if r2 s< 0 goto out
r4 = r10
r4 += -8
r4 += r2
*(u8 *)(r4 + 0) = 1
out:
r0 = 0
exit
