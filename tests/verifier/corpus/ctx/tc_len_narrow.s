; Narrow loads of scalar fields are allowed at aligned offsets.
; type: sched_cls
; expect: accept
r2 = *(u8 *)(r1 + 0)
r3 = *(u8 *)(r1 + 1)
r4 = *(u16 *)(r1 + 2)
r0 = 0
exit
