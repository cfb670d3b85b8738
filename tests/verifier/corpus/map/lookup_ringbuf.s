; Ring buffers have no elements to look up.
; type: socket_filter
; map events ringbuf entries=4096
; expect: reject "cannot pass map_type 27"
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(events) ll
call bpf_map_lookup_elem
r0 = 0
exit
