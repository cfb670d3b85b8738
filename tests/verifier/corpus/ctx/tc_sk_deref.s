; skb->sk is a pointer the program may test but not dereference without further checks.
; type: sched_cls
; expect: reject "invalid mem access"
r2 = *(u64 *)(r1 + 168)
r0 = *(u32 *)(r2 + 0)
exit
