; bpf_loop calls back ten times; the callback adds its index to a counter on the caller's stack.
; type: socket_filter
; kernel: skip "Linux needs BTF func_info for callback functions"
; expect: accept
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
r3 = *(u64 *)(r2 + 0)
r3 += r1
*(u64 *)(r2 + 0) = r3
r0 = 0
exit
