; The range is relative to the original pointer: data + 14 + 16 reads bytes [30, 34) of 34.
; type: xdp
; expect: accept
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 34
if r4 > r3 goto drop
r2 += 14
r0 = *(u32 *)(r2 + 16)
drop:
r0 = 1
exit
