; A 2-byte store initialises exactly two bytes.
; type: socket_filter
; expect: accept
*(u16 *)(r10 - 2) = 0x1234
r0 = *(u8 *)(r10 - 2)
r1 = *(u8 *)(r10 - 1)
r0 += r1
exit
