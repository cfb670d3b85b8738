; 8 bytes at fp-4 end at fp+4, past the top of the frame.
; type: socket_filter
; expect: reject "out of bounds"
*(u64 *)(r10 - 4) = 1
r0 = 0
exit
