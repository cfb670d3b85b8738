; The context pointer survives a spill and fill and can still be dereferenced.
; type: syscall
; expect: accept
*(u64 *)(r10 - 8) = r1
r2 = *(u64 *)(r10 - 8)
r0 = *(u32 *)(r2 + 0)
exit
