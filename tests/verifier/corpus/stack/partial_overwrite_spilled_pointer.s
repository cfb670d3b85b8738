; Overwriting half of a spilled pointer turns the slot into plain data: the filled value is a
; scalar and cannot be dereferenced.
; type: syscall
; expect: reject "invalid mem access 'scalar'"
*(u64 *)(r10 - 8) = r1
*(u32 *)(r10 - 8) = 0
r2 = *(u64 *)(r10 - 8)
r0 = *(u32 *)(r2 + 0)
exit
