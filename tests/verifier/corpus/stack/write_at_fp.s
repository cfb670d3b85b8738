; fp+0 is above the frame: the frame is [fp-512, fp).
; type: socket_filter
; expect: reject "out of bounds"
*(u64 *)(r10 + 0) = 1
r0 = 0
exit
