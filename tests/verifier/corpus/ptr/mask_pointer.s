; Masking a pointer.
; type: socket_filter
; expect: reject "bitwise operator &= on pointer prohibited"
r1 &= 0xff
r0 = 0
exit
