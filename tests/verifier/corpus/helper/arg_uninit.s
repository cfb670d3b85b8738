; r2 (the key pointer) was never set.
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; expect: reject "R2 !read_ok"
r1 = map(vals) ll
call bpf_map_lookup_elem
r0 = 0
exit
