; A tail call through a program array; on failure execution continues.
; type: socket_filter
; map jt prog_array key=4 value=4 entries=4
; expect: accept
r2 = map(jt) ll
r3 = 1
call bpf_tail_call
r0 = 0
exit
