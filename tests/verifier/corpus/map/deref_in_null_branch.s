; On the "== 0" branch the pointer is NULL (a scalar 0).
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; expect: reject "invalid mem access 'scalar'"
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
if r0 != 0 goto out
r1 = *(u64 *)(r0 + 0)
out:
r0 = 0
exit
