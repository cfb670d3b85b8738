; The check is made on a copy; every pointer with the same origin gets the range.
; type: xdp
; expect: accept
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r6 = r2
r4 = r2
r4 += 14
if r4 > r3 goto drop
r0 = *(u16 *)(r6 + 12)
r0 = 2
exit
drop:
r0 = 1
exit
