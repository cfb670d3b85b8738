; A size in [0, 15] fits the 16-byte buffer (zero is allowed for this helper).
; type: kprobe
; expect: accept
r2 = *(u64 *)(r1 + 0)
r2 &= 15
r1 = r10
r1 += -16
r3 = 0
call bpf_probe_read_kernel
r0 = 0
exit
