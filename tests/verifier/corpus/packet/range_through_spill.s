; A packet pointer spilled before the check gets the range too.
; type: xdp
; expect: accept
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
*(u64 *)(r10 - 8) = r2
r4 = r2
r4 += 14
if r4 > r3 goto drop
r5 = *(u64 *)(r10 - 8)
r0 = *(u16 *)(r5 + 12)
r0 = 2
exit
drop:
r0 = 1
exit
