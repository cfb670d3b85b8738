; The jump target lies outside the program.
; type: socket_filter
; expect: reject "outside the program"
r0 = 0
if r0 == 0 goto +5
exit
