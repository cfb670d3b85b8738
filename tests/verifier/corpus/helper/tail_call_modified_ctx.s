; The context passed on must be the program's own, unmodified.
; type: socket_filter
; map jt prog_array key=4 value=4 entries=4
; expect: reject "dereference of modified ctx ptr"
r1 += 8
r2 = map(jt) ll
r3 = 1
call bpf_tail_call
r0 = 0
exit
