; The counter never changes, so the loop never ends.
; type: socket_filter
; expect: reject "infinite loop detected"
r1 = 0
loop:
r1 += 0
if r1 < 10 goto loop
r0 = 0
exit
