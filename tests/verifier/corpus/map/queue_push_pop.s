; Push a value on a queue and pop one into an uninitialised buffer.
; type: socket_filter
; map q queue key=0 value=8 entries=8
; expect: accept
r1 = 5
*(u64 *)(r10 - 8) = r1
r1 = map(q) ll
r2 = r10
r2 += -8
r3 = 0
call bpf_map_push_elem
r1 = map(q) ll
r2 = r10
r2 += -16
call bpf_map_pop_elem
r0 = *(u64 *)(r10 - 16)
exit
