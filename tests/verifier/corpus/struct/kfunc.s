; Kernel functions are not available.
; type: socket_filter
; expect: reject "kfunc"
call kfunc(1)
r0 = 0
exit
