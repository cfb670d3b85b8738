; Map value bounds: a 16-byte value, read of [8, 16).
; type: socket_filter
; map vals array key=4 value=16 entries=4
; expect: accept
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 8)
out:
r0 = 0
exit
