; The callee writes 8 bytes through a pointer to the caller's last 4 bytes of stack.
; type: socket_filter
; expect: reject "out of bounds"
r1 = r10
r1 += -4
call f
r0 = 0
exit
f:
*(u64 *)(r1 + 0) = 1
r0 = 0
exit
