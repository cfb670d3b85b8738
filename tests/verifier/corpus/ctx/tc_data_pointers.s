; tc programs see data/data_end/data_meta.
; type: sched_cls
; expect: accept
r2 = *(u32 *)(r1 + 76)
r3 = *(u32 *)(r1 + 80)
r4 = *(u32 *)(r1 + 140)
r0 = 0
exit
