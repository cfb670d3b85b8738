; A value of one map (8 bytes) serves as the key (4 bytes) of another.
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; map other hash key=4 value=4 entries=16
; expect: accept
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
if r0 == 0 goto out
r2 = r0
r1 = map(other) ll
call bpf_map_lookup_elem
out:
r0 = 0
exit
