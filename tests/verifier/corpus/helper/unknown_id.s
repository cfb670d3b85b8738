; There is no helper 10000.
; type: socket_filter
; expect: reject "invalid func unknown#10000"
call 10000
r0 = 0
exit
