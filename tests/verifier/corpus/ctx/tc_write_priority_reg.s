; skb->priority is writable, here from a register.
; type: sched_cls
; expect: accept
r2 = *(u32 *)(r1 + 0)
*(u32 *)(r1 + 32) = r2
r0 = 0
exit
