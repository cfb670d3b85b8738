; Map value bounds: a 16-byte value, write of [12, 20).
; type: socket_filter
; map vals array key=4 value=16 entries=4
; expect: reject "invalid access to map value"
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
if r0 == 0 goto out
*(u64 *)(r0 + 12) = 1
out:
r0 = 0
exit
