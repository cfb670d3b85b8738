; r6-r9 survive the call.
; type: socket_filter
; expect: accept
r6 = 5
call f
r0 = r6
exit
f:
r6 = 9
r0 = 0
exit
