; cb[] is 20 bytes (48..67): an 8-byte access at 64 runs into the next field.
; type: sched_cls
; expect: reject "invalid bpf_context access"
*(u64 *)(r1 + 64) = 1
r0 = 0
exit
