; Writing a pointer into the packet would leak it.
; type: xdp
; expect: reject "leaks addr into packet"
; kernel: differs "a privileged kernel loader allows pointer leaks"
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 8
if r4 > r3 goto drop
*(u64 *)(r2 + 0) = r2
drop:
r0 = 1
exit
