; Walk at most 32 packet bytes, checking each against data_end.
; type: xdp
; expect: accept
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r0 = 0
r5 = 0
loop:
r4 = r2
r4 += 1
if r4 > r3 goto done
r6 = *(u8 *)(r2 + 0)
r0 += r6
r2 = r4
r5 += 1
if r5 < 32 goto loop
done:
r0 = 2
exit
