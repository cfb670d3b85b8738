; Each path returns a valid verdict.
; type: cgroup_skb
; expect: accept
r2 = *(u32 *)(r1 + 0)
r0 = 0
if r2 > 100 goto out
r0 = 1
out:
exit
