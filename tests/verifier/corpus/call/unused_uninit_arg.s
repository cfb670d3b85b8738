; r1 is not set but the callee never reads it.
; type: socket_filter
; expect: accept
call f
exit
f:
r0 = 7
exit
