; r6-r9 survive the legacy loads.
; type: socket_filter
; expect: accept
r6 = r1
r7 = 3
r0 = *(u8 *)skb[0]
r0 += r7
r1 = r6
exit
