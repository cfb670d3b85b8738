; for_each_map_elem over an array: the callback reads the value and accumulates into the context.
; type: socket_filter
; map arr array key=4 value=8 entries=4
; kernel: skip "Linux needs BTF func_info for callback functions"
; expect: accept
r1 = 0
*(u64 *)(r10 - 8) = r1
r1 = map(arr) ll
r2 = func(pc+7) ll
r3 = r10
r3 += -8
r4 = 0
call bpf_for_each_map_elem
r0 = *(u64 *)(r10 - 8)
exit
r5 = *(u64 *)(r3 + 0)
r0 = *(u32 *)(r2 + 0)
r5 += r0
*(u64 *)(r4 + 0) = r5
r0 = 0
exit
