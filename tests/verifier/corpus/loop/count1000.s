; A thousand iterations stay far below the instruction budget.
; type: socket_filter
; expect: accept
r1 = 0
r0 = 0
loop:
r0 += r1
r1 += 1
if r1 < 1000 goto loop
exit
