; Calls three deep with a loop in the innermost function.
; type: socket_filter
; expect: accept
r1 = 3
call f
exit
f:
call g
exit
g:
r0 = 0
r2 = 0
loop:
r0 += r1
r2 += 1
if r2 < 5 goto loop
exit
