; A u32 added to a packet pointer exceeds the 64 KiB packet limit: the comparison proves nothing.
; type: xdp
; expect: reject "invalid access to packet"
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 4
if r4 > r3 goto drop
r5 = *(u32 *)(r2 + 0)
r2 += r5
r4 = r2
r4 += 1
if r4 > r3 goto drop
r0 = *(u8 *)(r2 + 0)
r0 = 2
exit
drop:
r0 = 1
exit
