; Deleting by a key on the stack.
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; expect: accept
r1 = 1
*(u32 *)(r10 - 4) = r1
r1 = map(vals) ll
r2 = r10
r2 += -4
call bpf_map_delete_elem
r0 = 0
exit
