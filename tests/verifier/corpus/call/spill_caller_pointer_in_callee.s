; The callee keeps the caller's stack pointer in its own stack and uses it later.
; type: socket_filter
; expect: accept
*(u64 *)(r10 - 8) = 0
r1 = r10
r1 += -8
call f
r0 = *(u64 *)(r10 - 8)
exit
f:
*(u64 *)(r10 - 8) = r1
r2 = *(u64 *)(r10 - 8)
*(u64 *)(r2 + 0) = 4
r0 = 0
exit
