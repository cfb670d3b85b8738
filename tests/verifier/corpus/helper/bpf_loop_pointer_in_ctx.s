; The callback reads a pointer the caller spilled into the context and writes through it.
; type: socket_filter
; kernel: skip "Linux needs BTF func_info for callback functions"
; expect: accept
r1 = 0
*(u64 *)(r10 - 16) = r1
r1 = r10
r1 += -16
*(u64 *)(r10 - 8) = r1
r1 = 4
r2 = func(pc+7) ll
r3 = r10
r3 += -8
r4 = 0
call bpf_loop
r0 = *(u64 *)(r10 - 16)
exit
r3 = *(u64 *)(r2 + 0)
*(u64 *)(r3 + 0) = 1
r0 = 0
exit
