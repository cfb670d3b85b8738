; xdp_md is read-only.
; type: xdp
; expect: reject "invalid bpf_context access"
*(u32 *)(r1 + 0) = 0
r0 = 2
exit
