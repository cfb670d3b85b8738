; A counter from 0 to 10: ten iterations, each with a different counter.
; type: socket_filter
; expect: accept
r1 = 0
loop:
r1 += 1
if r1 < 10 goto loop
r0 = 0
exit
