; An index bounded only from above by a signed test may be negative.
; type: syscall
; map vals array key=4 value=64 entries=1
; expect: reject "min value is negative"
r6 = *(u64 *)(r1 + 0)
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
if r0 == 0 goto out
if r6 s> 63 goto out
r0 += r6
r1 = *(u8 *)(r0 + 0)
out:
r0 = 0
exit
