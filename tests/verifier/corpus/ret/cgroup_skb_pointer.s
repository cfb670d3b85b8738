; A pointer is not a verdict.
; type: cgroup_skb
; expect: reject "is not a known value"
r0 = r1
exit
