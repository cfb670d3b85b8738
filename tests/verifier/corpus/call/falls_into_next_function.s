; f has no exit: it would fall into g.
; type: socket_filter
; expect: reject "last insn is not an exit or jmp"
call f
call g
exit
f:
r0 = 0
g:
r0 = 1
exit
