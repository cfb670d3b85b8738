; A syscall program's context is the caller's buffer (64 bytes here), readable and writable.
; type: syscall
; ctx_size: 64
; expect: accept
r2 = *(u32 *)(r1 + 60)
*(u32 *)(r1 + 0) = r2
r0 = 0
exit
