; bpf_map_lookup_percpu_elem on a per-CPU array.
; type: socket_filter
; map pc percpu_array key=4 value=8 entries=4
; expect: accept
r1 = 0
*(u32 *)(r10 - 4) = r1
r1 = map(pc) ll
r2 = r10
r2 += -4
r3 = 0
call bpf_map_lookup_percpu_elem
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
out:
r0 = 0
exit
