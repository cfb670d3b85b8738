; Comparing an unset register.
; type: socket_filter
; expect: reject "R4 !read_ok"
r0 = 0
if r4 > 3 goto out
out:
exit
