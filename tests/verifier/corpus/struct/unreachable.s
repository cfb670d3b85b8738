; The second half can never run.
; type: socket_filter
; expect: reject "unreachable insn 2"
r0 = 0
exit
r0 = 1
exit
