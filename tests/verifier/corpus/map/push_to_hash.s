; bpf_map_push_elem needs a queue, stack or bloom filter.
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; expect: reject "cannot pass map_type 1"
r1 = 0
*(u64 *)(r10 - 8) = r1
r1 = map(vals) ll
r2 = r10
r2 += -8
r3 = 0
call bpf_map_push_elem
r0 = 0
exit
