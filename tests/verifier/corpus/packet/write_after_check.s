; XDP programs may write packet bytes they proved to exist.
; type: xdp
; expect: accept
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 6
if r4 > r3 goto drop
*(u16 *)(r2 + 4) = 0xffff
r0 = 2
exit
drop:
r0 = 1
exit
