; ... and used it is.
; type: syscall
; expect: reject "invalid variable-offset write to stack"
r2 = *(u64 *)(r1 + 0)
r3 = r10
r3 += r2
*(u8 *)(r3 + 0) = 1
r0 = 0
exit
