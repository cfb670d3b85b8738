; cgroup skb programs return 0 (drop) or 1 (allow).
; type: cgroup_skb
; expect: accept
r0 = 1
exit
