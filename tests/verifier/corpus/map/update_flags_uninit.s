; The flags argument (r4) was never set.
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; expect: reject "R4 !read_ok"
r1 = 7
*(u32 *)(r10 - 4) = r1
*(u64 *)(r10 - 16) = r1
r1 = map(vals) ll
r2 = r10
r2 += -4
r3 = r10
r3 += -16
call bpf_map_update_elem
r0 = 0
exit
