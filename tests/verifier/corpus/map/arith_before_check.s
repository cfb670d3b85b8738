; A maybe-NULL pointer cannot be moved before the check.
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; expect: reject "pointer arithmetic on map_value_or_null prohibited"
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
r0 += 4
r0 = 0
exit
