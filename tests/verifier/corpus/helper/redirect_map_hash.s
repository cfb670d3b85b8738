; bpf_redirect_map cannot redirect through a hash map.
; type: xdp
; map vals hash key=4 value=4 entries=4
; expect: reject "cannot pass map_type 1"
r1 = map(vals) ll
r2 = 0
r3 = 0
call bpf_redirect_map
exit
