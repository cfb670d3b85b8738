; The data pointer field must be read with a 4-byte load.
; type: sched_cls
; expect: reject "invalid bpf_context access"
r2 = *(u16 *)(r1 + 76)
r0 = 0
exit
