; fp-16..fp-1 are written; an 8-byte read at fp-16 + [0, 7] stays inside them.
; type: syscall
; expect: accept
; kernel: differs "Linux requires stack accesses to be aligned to their size"
r2 = *(u32 *)(r1 + 0)
r3 = 0
*(u64 *)(r10 - 16) = r3
*(u64 *)(r10 - 8) = r3
r2 &= 7
r4 = r10
r4 += -16
r4 += r2
r0 = *(u64 *)(r4 + 0)
exit
