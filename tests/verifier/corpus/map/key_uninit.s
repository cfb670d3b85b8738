; The key on the stack was never written.
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; expect: reject "invalid indirect read from stack"
; kernel: differs "a privileged kernel loader allows reading uninitialised stack"
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
r0 = 0
exit
