; Only fp-8..fp-1 are written but fp-16 + [0, 7] may read below them.
; type: syscall
; expect: reject "may read uninitialised bytes"
; Linux rejects it too (for the misaligned variable-offset access).
r2 = *(u32 *)(r1 + 0)
r3 = 0
*(u64 *)(r10 - 8) = r3
r2 &= 7
r4 = r10
r4 += -16
r4 += r2
r0 = *(u64 *)(r4 + 0)
exit
