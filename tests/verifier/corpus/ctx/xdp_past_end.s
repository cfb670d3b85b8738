; xdp_md is 24 bytes: offset 24 is past it.
; type: xdp
; expect: reject "invalid bpf_context access"
r2 = *(u32 *)(r1 + 24)
r0 = 2
exit
