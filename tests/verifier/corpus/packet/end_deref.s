; data_end points one past the packet: it cannot be read.
; type: xdp
; expect: reject "invalid mem access 'pkt_end'"
r3 = *(u32 *)(r1 + 4)
r0 = *(u8 *)(r3 + 0)
exit
