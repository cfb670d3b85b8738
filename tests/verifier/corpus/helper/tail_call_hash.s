; bpf_tail_call needs a program array.
; type: socket_filter
; map vals hash key=4 value=4 entries=4
; expect: reject "cannot pass map_type 1"
r2 = map(vals) ll
r3 = 1
call bpf_tail_call
r0 = 0
exit
