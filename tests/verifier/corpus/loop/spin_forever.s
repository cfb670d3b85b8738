; r1 stays 0: the jump back is always taken and the state repeats.
; type: socket_filter
; expect: reject "infinite loop detected"
r1 = 0
loop:
if r1 == 0 goto loop
r0 = 0
exit
