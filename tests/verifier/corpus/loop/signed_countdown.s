; Counting down from 10 while positive.
; type: socket_filter
; expect: accept
r1 = 10
loop:
r1 -= 1
if r1 s> 0 goto loop
r0 = 0
exit
