; Helpers that take the context need it unmodified, even when it is a buffer.
; type: syscall
; map jt prog_array key=4 value=4 entries=4
; expect: reject "dereference of modified ctx ptr"
r1 += 4
r2 = map(jt) ll
r3 = 0
call bpf_tail_call
r0 = 0
exit
