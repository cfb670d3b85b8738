; A size bounded only by a signed test may be negative.
; type: kprobe
; expect: reject "min value is negative"
r2 = *(u64 *)(r1 + 0)
if r2 s> 16 goto out
r1 = r10
r1 += -16
r3 = 0
call bpf_probe_read_kernel
out:
r0 = 0
exit
