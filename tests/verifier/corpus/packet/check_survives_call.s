; Helpers that do not move the packet keep packet ranges.
; type: xdp
; expect: accept
r6 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r6
r4 += 14
if r4 > r3 goto drop
call bpf_get_prandom_u32
r0 = *(u8 *)(r6 + 13)
drop:
r0 = 1
exit
