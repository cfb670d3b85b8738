; bpf_loop needs a function address as its callback.
; type: socket_filter
; expect: reject "expected=func"
r1 = 10
r2 = 0
r3 = 0
r4 = 0
call bpf_loop
r0 = 0
exit
