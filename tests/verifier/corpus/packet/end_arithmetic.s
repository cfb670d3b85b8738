; data_end cannot be moved.
; type: xdp
; expect: reject "pointer arithmetic on pkt_end prohibited"
r3 = *(u32 *)(r1 + 4)
r3 += -1
r0 = 2
exit
