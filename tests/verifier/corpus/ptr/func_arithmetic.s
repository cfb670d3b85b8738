; A function address cannot be moved.
; type: socket_filter
; expect: reject "pointer arithmetic on func prohibited"
r1 = func(pc+4) ll
r1 += 8
r0 = 0
exit
r0 = 0
exit
