; A 32-bit counter.
; type: socket_filter
; expect: accept
w1 = 0
loop:
w1 += 1
if w1 < 100 goto loop
r0 = 0
exit
