; (x & 7) - 1 may be -1.
; The index r6 writes one byte of an 8-byte map value: safe iff r6 is in [0, 7].
; type: syscall
; map vals array key=4 value=8 entries=1
; expect: reject "min value is negative"
r6 = *(u64 *)(r1 + 0)
r6 &= 7
r6 -= 1
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
if r0 == 0 goto out
r0 += r6
*(u8 *)(r0 + 0) = 1
out:
r0 = 0
exit
