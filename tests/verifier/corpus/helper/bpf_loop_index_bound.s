; The callback index is below 2^23; as an offset into the 8-byte context it may still overflow.
; type: socket_filter
; kernel: skip "Linux needs BTF func_info for callback functions"
; expect: reject "invalid variable-offset"
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
r2 += r1
*(u8 *)(r2 + 0) = 1
r0 = 0
exit
