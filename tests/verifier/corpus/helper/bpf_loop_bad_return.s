; A bpf_loop callback must return 0 (continue) or 1 (stop).
; type: socket_filter
; kernel: skip "Linux needs BTF func_info for callback functions"
; expect: reject "At callback return"
r1 = 0
*(u64 *)(r10 - 8) = r1
r1 = 10
r2 = func(pc+7) ll
r3 = r10
r3 += -8
r4 = 0
call bpf_loop
r0 = *(u64 *)(r10 - 8)
exit
r0 = 2
exit
