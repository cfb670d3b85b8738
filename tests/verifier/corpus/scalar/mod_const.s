; x % 8 is in [0, 7].
; The index r2 writes one byte at fp-8 + r2: inside the frame iff r2 is in [-504, 7].
; type: syscall
; expect: accept
; kernel: differs "Linux does not track the range of a modulo"
r2 = *(u64 *)(r1 + 0)
r2 %= 8
r4 = r10
r4 += -8
r4 += r2
*(u8 *)(r4 + 0) = 1
out:
r0 = 0
exit
