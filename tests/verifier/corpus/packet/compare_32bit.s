; Pointers cannot be compared with 32-bit jumps.
; type: xdp
; kernel: differs "Linux lets privileged programs compare pointers with 32-bit jumps"
; expect: reject "32-bit pointer comparison prohibited"
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if w4 > w3 goto drop
drop:
r0 = 1
exit
