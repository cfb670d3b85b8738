; Masking with 1 gives a valid verdict.
; type: cgroup_skb
; expect: accept
r0 = *(u32 *)(r1 + 8)
r0 &= 1
exit
