; 2 is outside [0, 1].
; type: cgroup_skb
; expect: reject "should have been in [0, 1]"
r0 = 2
exit
