; pt_regs is 168 bytes on x86-64.
; type: kprobe
; expect: reject "invalid bpf_context access"
r2 = *(u64 *)(r1 + 168)
r0 = 0
exit
