; An aligned 8-byte access to cb[0..1].
; type: sched_cls
; expect: accept
*(u64 *)(r1 + 48) = 1
r0 = *(u64 *)(r1 + 56)
exit
