; Map value bounds: a 16-byte value, read of [16, 17).
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
r1 = *(u8 *)(r0 + 16)
out:
r0 = 0
exit
