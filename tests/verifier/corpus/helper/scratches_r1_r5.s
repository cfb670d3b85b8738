; Helper calls scratch r1-r5.
; type: socket_filter
; expect: reject "R2 !read_ok"
r2 = 5
call bpf_ktime_get_ns
r0 += r2
exit
