; The distance between two stack pointers is a number.
; type: socket_filter
; expect: accept
r2 = r10
r2 += -16
r3 = r10
r3 -= r2
r0 = r3
exit
