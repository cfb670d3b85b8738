; The callee writes the caller's stack through a pointer argument.
; type: socket_filter
; expect: accept
r1 = r10
r1 += -8
call f
r0 = *(u64 *)(r10 - 8)
exit
f:
*(u64 *)(r1 + 0) = 3
r0 = 0
exit
