; An unbounded offset added to a stack pointer is only an error if the pointer is used.
; type: syscall
; expect: accept
; kernel: differs "Linux rejects the arithmetic itself"
r2 = *(u64 *)(r1 + 0)
r3 = r10
r3 += r2
r0 = 0
exit
