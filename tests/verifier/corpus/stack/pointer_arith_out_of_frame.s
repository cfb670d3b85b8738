; fp-600 is below the frame.
; type: socket_filter
; expect: reject "out of bounds"
r2 = r10
r2 += -600
*(u8 *)(r2 + 0) = 1
r0 = 0
exit
