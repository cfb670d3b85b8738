; Socket filters may not move the packet head.
; type: socket_filter
; expect: reject "cannot use helper"
r2 = 0
call bpf_xdp_adjust_head
r0 = 0
exit
