; Comparing two packet pointers proves nothing about data_end.
; type: xdp
; expect: reject "invalid access to packet"
r2 = *(u32 *)(r1 + 0)
r4 = r2
r4 += 14
r5 = r2
r5 += 20
if r4 > r5 goto drop
r0 = *(u8 *)(r2 + 0)
drop:
r0 = 1
exit
