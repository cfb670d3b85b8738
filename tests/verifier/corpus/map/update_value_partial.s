; Only 4 of the 8 value bytes are initialised.
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; expect: reject "invalid indirect read from stack"
; kernel: differs "a privileged kernel loader allows reading uninitialised stack"
r1 = 7
*(u32 *)(r10 - 4) = r1
*(u32 *)(r10 - 16) = r1
r1 = map(vals) ll
r2 = r10
r2 += -4
r3 = r10
r3 += -16
r4 = 0
call bpf_map_update_elem
r0 = 0
exit
