; Socket filters have no direct packet access: data is not readable.
; type: socket_filter
; expect: reject "invalid bpf_context access"
r2 = *(u32 *)(r1 + 76)
r0 = 0
exit
