; data is a 4-byte field; an 8-byte load of it is refused.
; type: xdp
; expect: reject "invalid bpf_context access"
r2 = *(u64 *)(r1 + 0)
r0 = 2
exit
