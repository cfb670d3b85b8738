; A map reference cannot be dereferenced.
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; kernel: differs "Linux lets privileged programs read struct bpf_map fields through BTF"
; expect: reject "invalid mem access 'map_ptr'"
r1 = map(vals) ll
r0 = *(u64 *)(r1 + 0)
exit
