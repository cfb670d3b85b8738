; A 32-bit atomic add on a 4-byte map value.
; type: socket_filter
; map vals array key=4 value=4 entries=1
; expect: accept
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
if r0 == 0 goto out
w1 = 1
lock *(u32 *)(r0 + 0) += w1
out:
r0 = 0
exit
