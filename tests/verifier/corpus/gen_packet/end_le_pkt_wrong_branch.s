; Packet bounds, 'if r3 <= r4' with r4 = data + 14: the unsafe branch
; proves 0 bytes; the access reads [0, 1).
; type: xdp
; expect: reject "invalid access to packet"
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r3 <= r4 goto use
r0 = 1
exit
use:
r0 = *(u8 *)(r2 + 0)
r0 = 2
exit
