; One path reaches exit without setting r0.
; type: socket_filter
; expect: reject "R0 !read_ok"
r2 = *(u32 *)(r1 + 0)
if r2 > 5 goto out
r0 = 1
out:
exit
