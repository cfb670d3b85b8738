; 32 bytes from fp-16 run past the frame.
; type: kprobe
; expect: reject "out of bounds"
r1 = r10
r1 += -16
r2 = 32
call bpf_get_current_comm
r0 = 0
exit
