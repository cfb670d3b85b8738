; A copy spilled before the check is non-NULL once filled after it.
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; expect: accept
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
*(u64 *)(r10 - 16) = r0
if r0 == 0 goto out
r6 = *(u64 *)(r10 - 16)
r1 = *(u64 *)(r6 + 0)
out:
r0 = 0
exit
