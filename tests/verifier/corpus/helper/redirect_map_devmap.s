; bpf_redirect_map with a device map.
; type: xdp
; map dm devmap key=4 value=4 entries=4
; expect: accept
r1 = map(dm) ll
r2 = 0
r3 = 0
call bpf_redirect_map
exit
