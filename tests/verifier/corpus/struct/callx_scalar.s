; callx through a number.
; type: socket_filter
; expect: reject "callx"
r2 = 1
callx r2
r0 = 0
exit
