; r1-r5 are scratched by the call.
; type: socket_filter
; expect: reject "R1 !read_ok"
r1 = 1
call f
r0 = r1
exit
f:
r0 = 0
exit
