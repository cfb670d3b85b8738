; Socket filters may use LD_ABS with r6 = ctx.
; type: socket_filter
; expect: accept
r6 = r1
r0 = *(u16 *)skb[12]
exit
