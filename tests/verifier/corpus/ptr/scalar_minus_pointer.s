; A scalar minus a pointer is meaningless.
; type: socket_filter
; expect: reject "tried to subtract pointer from scalar"
r2 = 5
r2 -= r10
r0 = 0
exit
