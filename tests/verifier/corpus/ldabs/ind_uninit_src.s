; LD_IND adds a register that was never set.
; type: socket_filter
; expect: reject "R2 !read_ok"
r6 = r1
r0 = *(u32 *)skb[r2 + 4]
exit
