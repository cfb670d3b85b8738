; bpf_get_current_comm needs a non-zero size.
; type: kprobe
; expect: reject "invalid zero-sized read"
r1 = r10
r1 += -16
r2 = 0
call bpf_get_current_comm
r0 = 0
exit
