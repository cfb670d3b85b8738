; An 8-byte key at fp-4 would run past the top of the frame.
; type: socket_filter
; map vals hash key=8 value=8 entries=16
; expect: reject "out of bounds"
*(u32 *)(r10 - 4) = 1
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
r0 = 0
exit
