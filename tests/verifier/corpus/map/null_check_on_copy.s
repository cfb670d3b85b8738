; The check is made on a copy; the original is non-NULL afterwards too.
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; expect: accept
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
r6 = r0
if r6 == 0 goto out
r1 = *(u64 *)(r0 + 0)
out:
r0 = 0
exit
