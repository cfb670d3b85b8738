; kprobe programs read pt_regs (read-only).
; type: kprobe
; expect: accept
r2 = *(u64 *)(r1 + 0)
r3 = *(u64 *)(r1 + 160)
r0 = 0
exit
