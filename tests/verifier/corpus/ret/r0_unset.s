; r0 was never set.
; type: socket_filter
; expect: reject "R0 !read_ok"
exit
