; fp-512 is the lowest valid 8-byte slot.
; type: socket_filter
; expect: accept
*(u64 *)(r10 - 512) = 1
r0 = *(u64 *)(r10 - 512)
exit
