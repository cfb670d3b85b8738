; Look up an inner map in an array of maps, then a value in it.
; type: socket_filter
; map inner array key=4 value=8 entries=2
; map outer array_of_maps key=4 value=4 entries=2 inner=inner
; expect: accept
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(outer) ll
call bpf_map_lookup_elem
if r0 == 0 goto out
r1 = r0
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
out:
r0 = 0
exit
