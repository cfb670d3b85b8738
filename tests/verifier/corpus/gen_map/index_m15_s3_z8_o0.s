; Masked index: (x & 15) << 3 + 0 indexes a 64-byte value; the last
; access reads [120, 128).
; type: syscall
; map vals array key=4 value=64 entries=1
; expect: reject "invalid access to map value"
r6 = *(u32 *)(r1 + 0)
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
if r0 == 0 goto out
r6 &= 15
r6 <<= 3
r0 += r6
r1 = *(u64 *)(r0 + 0)
out:
r0 = 0
exit
