; LD_ABS behaves like a call: r1-r5 are unusable afterwards.
; type: socket_filter
; expect: reject "R2 !read_ok"
r6 = r1
r2 = 5
r0 = *(u8 *)skb[0]
r0 += r2
exit
