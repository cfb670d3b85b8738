; A lock at the start of a map value.
; type: socket_filter
; map vals array key=4 value=16 entries=1
; expect: accept
; kernel: skip "Linux needs BTF to find a bpf_spin_lock in the value"
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
if r0 == 0 goto out
r6 = r0
r1 = r0
call bpf_spin_lock
r1 = r6
call bpf_spin_unlock
out:
r0 = 0
exit
