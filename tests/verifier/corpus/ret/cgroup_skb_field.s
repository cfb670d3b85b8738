; An unknown context field is not a valid verdict.
; type: cgroup_skb
; expect: reject "should have been in [0, 1]"
r0 = *(u32 *)(r1 + 8)
exit
