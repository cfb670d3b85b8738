; Copy 4 packet bytes into the stack.
; type: sched_cls
; expect: accept
r2 = 0
r3 = r10
r3 += -4
r4 = 4
call bpf_skb_load_bytes
r0 = *(u32 *)(r10 - 4)
exit
