; The byte before data is not part of the packet.
; type: xdp
; expect: reject "invalid access to packet"
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r4 > r3 goto drop
r0 = *(u8 *)(r2 - 1)
drop:
r0 = 1
exit
