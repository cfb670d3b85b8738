; The last instruction is not an exit: the program could run off its end.
; type: socket_filter
; expect: reject "last ins"
r0 = 0
if r0 == 0 goto last
exit
last:
r0 = 1
