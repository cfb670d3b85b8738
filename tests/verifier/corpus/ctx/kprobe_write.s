; pt_regs is read-only for kprobe programs.
; type: kprobe
; expect: reject "invalid bpf_context access"
*(u64 *)(r1 + 0) = 0
r0 = 0
exit
