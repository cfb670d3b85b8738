; xdp_md fields may only be read whole (4 bytes).
; type: xdp
; expect: reject "invalid bpf_context access"
r2 = *(u8 *)(r1 + 12)
r0 = 2
exit
