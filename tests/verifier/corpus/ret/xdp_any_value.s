; XDP does not restrict its return value (unknown actions act as XDP_ABORTED).
; type: xdp
; expect: accept
r0 = 77
exit
