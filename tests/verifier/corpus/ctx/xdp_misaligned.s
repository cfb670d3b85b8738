; Offset 2 is inside the data field: not a field start.
; type: xdp
; expect: reject "invalid bpf_context access"
r0 = *(u32 *)(r1 + 2)
exit
