; The callback context is the 8 bytes at fp-8 of the caller; fp-8 + 8 is past the frame.
; type: socket_filter
; kernel: skip "Linux needs BTF func_info for callback functions"
; expect: reject "out of bounds"
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
r3 = *(u64 *)(r2 + 8)
r0 = 0
exit
