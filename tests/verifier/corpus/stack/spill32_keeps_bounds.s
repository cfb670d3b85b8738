; A bounded value spilled with a 4-byte store comes back with its bounds and can index the stack.
; type: syscall
; expect: accept
; kernel: differs "Linux loses the bounds of a 4-byte spill filled back"
r2 = *(u32 *)(r1 + 0)
if w2 > 7 goto out
*(u32 *)(r10 - 4) = r2
r3 = *(u32 *)(r10 - 4)
r4 = r10
r4 += -16
r4 += r3
*(u8 *)(r4 + 0) = 1
out:
r0 = 0
exit
