; Two packet pointers cannot be added.
; type: xdp
; expect: reject "pointer += pointer prohibited"
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 0)
r2 += r3
r0 = 2
exit
