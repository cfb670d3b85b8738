; bpf_xdp_adjust_head may move the packet: pointers taken before it are unusable afterwards.
; type: xdp
; expect: reject "invalid mem access 'scalar'"
r6 = r1
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r4 > r3 goto drop
*(u64 *)(r10 - 8) = r2
r1 = r6
r2 = 0
call bpf_xdp_adjust_head
r2 = *(u64 *)(r10 - 8)
r0 = *(u8 *)(r2 + 0)
r0 = 2
exit
drop:
r0 = 1
exit
