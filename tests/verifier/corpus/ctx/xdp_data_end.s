; data and data_end are 4-byte fields of xdp_md.
; type: xdp
; expect: accept
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r0 = 2
exit
