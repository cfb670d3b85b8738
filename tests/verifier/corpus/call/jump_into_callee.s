; main jumps into the middle of f.
; type: socket_filter
; expect: reject "jump out of range"
r0 = 0
if r0 == 0 goto inside
call f
exit
f:
r0 = 1
inside:
exit
