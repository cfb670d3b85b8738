; cgroup skb programs may not set tc_index.
; type: cgroup_skb
; expect: reject "invalid bpf_context access"
*(u32 *)(r1 + 44) = 1
r0 = 1
exit
