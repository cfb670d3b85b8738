; The program refers to map 3, but only one map is declared.
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; expect: reject "is not pointing to valid bpf_map"
; kernel: skip "the map reference is only meaningful to pybpf"
r1 = map_idx(3) ll
r0 = 0
exit
