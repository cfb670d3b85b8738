; A slot that held a pointer is fully overwritten by a scalar; the fill is that scalar.
; type: syscall
; expect: reject "invalid mem access 'scalar'"
*(u64 *)(r10 - 8) = r1
r3 = 7
*(u64 *)(r10 - 8) = r3
r2 = *(u64 *)(r10 - 8)
r0 = *(u8 *)(r2 + 0)
exit
