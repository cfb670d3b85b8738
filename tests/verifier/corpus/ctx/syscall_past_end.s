; The declared buffer is 64 bytes.
; type: syscall
; ctx_size: 64
; expect: reject "invalid bpf_context access"
; kernel: differs "Linux checks syscall contexts against the size given at run time"
r2 = *(u32 *)(r1 + 64)
r0 = 0
exit
