; The callee returns without setting r0.
; type: socket_filter
; expect: reject "R0 !read_ok"
call f
exit
f:
r1 = 0
exit
