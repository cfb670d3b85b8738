; A bounded variable index into the 64-byte buffer: [0, 15] + 4 bytes.
; type: syscall
; ctx_size: 64
; expect: accept
; kernel: differs "Linux does not allow variable context offsets"
r2 = *(u8 *)(r1 + 0)
r2 &= 15
r1 += r2
r0 = *(u32 *)(r1 + 0)
exit
