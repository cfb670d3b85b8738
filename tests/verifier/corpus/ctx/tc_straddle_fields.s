; A 4-byte load at offset 2 straddles len and pkt_type.
; type: sched_cls
; expect: reject "invalid bpf_context access"
r0 = *(u32 *)(r1 + 2)
exit
