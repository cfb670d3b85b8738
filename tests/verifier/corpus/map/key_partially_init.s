; Only 2 of the 4 key bytes are written.
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; expect: reject "invalid indirect read from stack"
; kernel: differs "a privileged kernel loader allows reading uninitialised stack"
*(u16 *)(r10 - 4) = 1
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
r0 = 0
exit
