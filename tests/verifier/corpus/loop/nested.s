; Two nested loops of four iterations.
; type: socket_filter
; expect: accept
r0 = 0
r1 = 0
outer:
r2 = 0
inner:
r0 += r2
r2 += 1
if r2 < 4 goto inner
r1 += 1
if r1 < 4 goto outer
exit
