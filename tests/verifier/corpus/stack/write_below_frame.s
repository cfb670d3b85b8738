; fp-520 is below the 512-byte frame.
; type: socket_filter
; expect: reject "out of bounds"
*(u64 *)(r10 - 520) = 1
r0 = 0
exit
