; Storing the frame pointer into a map value would leak a kernel address.
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; expect: reject "leaks addr into map"
; kernel: differs "a privileged kernel loader allows pointer leaks"
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map(vals) ll
call bpf_map_lookup_elem
if r0 == 0 goto out
*(u64 *)(r0 + 0) = r10
out:
r0 = 0
exit
