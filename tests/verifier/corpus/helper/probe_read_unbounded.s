; The size of probe_read is a u32 from pt_regs: not bounded by anything.
; type: kprobe
; expect: reject "unbounded memory access"
r2 = *(u32 *)(r1 + 0)
r1 = r10
r1 += -16
r3 = 0
call bpf_probe_read_kernel
r0 = 0
exit
