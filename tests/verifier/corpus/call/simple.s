; A bpf-to-bpf call with an argument and a result.
; type: socket_filter
; expect: accept
r1 = 1
call add_one
exit
add_one:
r0 = r1
r0 += 1
exit
