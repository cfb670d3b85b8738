; r3 was never set.
; type: socket_filter
; expect: reject "R3 !read_ok"
r0 = 1
r0 += r3
exit
