; After bpf_xdp_adjust_head the program reloads data/data_end and checks again.
; type: xdp
; expect: accept
r6 = r1
r2 = 0
call bpf_xdp_adjust_head
r2 = *(u32 *)(r6 + 0)
r3 = *(u32 *)(r6 + 4)
r4 = r2
r4 += 1
if r4 > r3 goto drop
r0 = *(u8 *)(r2 + 0)
r0 = 2
exit
drop:
r0 = 1
exit
