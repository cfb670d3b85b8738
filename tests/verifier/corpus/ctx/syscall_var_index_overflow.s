; A byte index reaches 255 + 4 bytes, past the 64-byte buffer.
; type: syscall
; ctx_size: 64
; expect: reject "invalid access to context"
r2 = *(u8 *)(r1 + 0)
r1 += r2
r0 = *(u32 *)(r1 + 0)
exit
