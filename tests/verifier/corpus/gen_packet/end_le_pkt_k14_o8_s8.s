; Packet bounds, 'if r3 <= r4' with r4 = data + 14: the safe branch
; proves 15 bytes; the access reads [8, 16).
; type: xdp
; expect: reject "invalid access to packet"
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r3 <= r4 goto other
r0 = *(u64 *)(r2 + 8)
r0 = 2
exit
other:
r0 = 1
exit
