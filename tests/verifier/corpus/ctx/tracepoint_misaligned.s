; Raw context reads must be naturally aligned.
; type: tracepoint
; expect: reject "invalid bpf_context access"
r2 = *(u64 *)(r1 + 4)
r0 = 0
exit
