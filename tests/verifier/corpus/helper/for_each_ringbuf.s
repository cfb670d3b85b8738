; for_each_map_elem cannot iterate a ring buffer.
; type: socket_filter
; map events ringbuf key=0 value=0 entries=4096
; expect: reject "cannot pass map_type 27"
r1 = map(events) ll
r2 = func(pc+6) ll
r3 = 0
r4 = 0
call bpf_for_each_map_elem
r0 = 0
exit
r0 = 0
exit
