; data + 14 + 17 reads bytes [31, 35) but only 34 are proven.
; type: xdp
; expect: reject "invalid access to packet"
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 34
if r4 > r3 goto drop
r2 += 14
r0 = *(u32 *)(r2 + 17)
drop:
r0 = 1
exit
