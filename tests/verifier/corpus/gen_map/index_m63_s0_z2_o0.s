; Masked index: (x & 63) << 0 + 0 indexes a 64-byte value; the last
; access reads [63, 65).
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
r6 &= 63
r6 <<= 0
r0 += r6
r1 = *(u16 *)(r0 + 0)
out:
r0 = 0
exit
