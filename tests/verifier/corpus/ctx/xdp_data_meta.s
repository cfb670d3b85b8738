; data_meta is a readable pointer field.
; type: xdp
; expect: accept
r2 = *(u32 *)(r1 + 8)
r0 = 2
exit
