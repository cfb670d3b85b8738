; The inner map reference from an array of maps may be NULL.
; type: socket_filter
; map inner array key=4 value=8 entries=2
; map outer array_of_maps key=4 value=4 entries=2 inner=inner
; expect: reject "type=map_ptr_or_null"
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(outer) ll
call bpf_map_lookup_elem
r1 = r0
r2 = r10
r2 += -4
call bpf_map_lookup_elem
r0 = 0
exit
