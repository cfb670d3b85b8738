; LD_ABS reads the packet through r6, which must hold the context.
; type: socket_filter
; expect: reject "R6 != pointer to skb"
r6 = 0
r0 = *(u8 *)skb[0]
exit
