; skb->tstamp is an 8-byte field tc programs may read and write.
; type: sched_cls
; expect: accept
r2 = *(u64 *)(r1 + 152)
*(u64 *)(r1 + 152) = r2
r0 = 0
exit
