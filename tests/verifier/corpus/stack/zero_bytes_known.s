; The upper half of a spilled constant 0 reads back as the constant 0, so adding it to the
; context pointer leaves the pointer unmodified.
; type: syscall
; expect: accept
r2 = 0
*(u64 *)(r10 - 8) = r2
r3 = *(u32 *)(r10 - 4)
r1 += r3
r0 = *(u32 *)(r1 + 0)
exit
