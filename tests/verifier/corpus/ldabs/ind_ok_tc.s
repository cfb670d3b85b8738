; tc classifiers may use LD_IND too.
; type: sched_cls
; expect: accept
r6 = r1
r2 = 14
r0 = *(u8 *)skb[r2 + 9]
exit
