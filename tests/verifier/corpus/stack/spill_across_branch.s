; The pointer is spilled on both paths, so after the join it is still a pointer.
; type: syscall
; expect: accept
r2 = *(u32 *)(r1 + 0)
if r2 > 10 goto other
*(u64 *)(r10 - 8) = r1
goto join
other:
*(u64 *)(r10 - 8) = r1
join:
r3 = *(u64 *)(r10 - 8)
r0 = *(u32 *)(r3 + 4)
exit
