; A callee may return the context pointer it was given.
; type: syscall
; expect: accept
call f
r0 = *(u32 *)(r0 + 0)
exit
f:
r0 = r1
exit
