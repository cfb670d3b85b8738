; The callee's stack disappears on return.
; type: socket_filter
; expect: reject "cannot return stack pointer"
call f
r0 = 0
exit
f:
r0 = r10
r0 += -8
exit
