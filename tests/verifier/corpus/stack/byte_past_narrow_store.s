; The 2-byte store at fp-2 does not cover fp-3.
; type: socket_filter
; expect: reject "uninitialised"
; kernel: differs "a privileged kernel loader allows reading uninitialised stack"
*(u16 *)(r10 - 2) = 0x1234
r0 = *(u8 *)(r10 - 3)
exit
