; A sign-extending byte load bounded by 7 from above with a signed test may still be negative.
; The index r6 writes one byte of an 8-byte map value: safe iff r6 is in [0, 7].
; type: syscall
; map vals array key=4 value=8 entries=1
; expect: reject "min value is negative"
r6 = *(s8 *)(r1 + 0)
if r6 s> 7 goto out
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
