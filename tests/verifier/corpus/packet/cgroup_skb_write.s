; cgroup skb programs may read but not write the packet.
; type: cgroup_skb
; expect: reject "cannot write into packet"
r2 = *(u32 *)(r1 + 76)
r3 = *(u32 *)(r1 + 80)
r4 = r2
r4 += 1
if r4 > r3 goto out
*(u8 *)(r2 + 0) = 1
out:
r0 = 1
exit
