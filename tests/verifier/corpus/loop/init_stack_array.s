; Eight iterations write the eight bytes of an array; the counter is exact in each.
; type: socket_filter
; expect: accept
r1 = 0
loop:
r2 = r10
r2 += -8
r2 += r1
*(u8 *)(r2 + 0) = 1
r1 += 1
if r1 < 8 goto loop
r0 = *(u64 *)(r10 - 8)
exit
