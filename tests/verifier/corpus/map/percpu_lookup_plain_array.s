; bpf_map_lookup_percpu_elem needs a per-CPU map.
; type: socket_filter
; map arr array key=4 value=8 entries=4
; expect: reject "cannot pass map_type 2"
r1 = 0
*(u32 *)(r10 - 4) = r1
r1 = map(arr) ll
r2 = r10
r2 += -4
r3 = 0
call bpf_map_lookup_percpu_elem
r0 = 0
exit
