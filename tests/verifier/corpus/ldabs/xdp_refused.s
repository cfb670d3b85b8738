; XDP programs may not use the legacy packet loads.
; type: xdp
; expect: reject "not allowed for this program type"
r6 = r1
r0 = *(u8 *)skb[0]
exit
