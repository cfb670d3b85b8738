; Packet bounds, 'if r4 < r3' with r4 = data + 14: the safe branch
; proves 15 bytes; the access reads [14, 16).
; type: xdp
; expect: reject "invalid access to packet"
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r4 < r3 goto use
r0 = 1
exit
use:
r0 = *(u16 *)(r2 + 14)
r0 = 2
exit
