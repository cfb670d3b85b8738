; Metadata read without comparing against data.
; type: xdp
; expect: reject "invalid access to packet metadata"
r2 = *(u32 *)(r1 + 8)
r0 = *(u32 *)(r2 + 0)
r0 = 2
exit
