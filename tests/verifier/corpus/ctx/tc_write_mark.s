; tc programs may set skb->mark.
; type: sched_cls
; expect: accept
*(u32 *)(r1 + 8) = 7
r0 = 0
exit
