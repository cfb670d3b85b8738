; A constant in frozen read-only data is known exactly (3), so it bounds an index.
; type: socket_filter
; map cfg array key=4 value=8 entries=1 readonly data=0300000000000000
; expect: accept
r1 = map_value(cfg) ll
r2 = *(u64 *)(r1 + 0)
r3 = r10
r3 += -8
r3 += r2
*(u8 *)(r3 + 0) = 1
r0 = 0
exit
