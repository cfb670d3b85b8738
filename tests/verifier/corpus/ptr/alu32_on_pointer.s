; 32-bit arithmetic would cut the pointer.
; type: socket_filter
; expect: reject "32-bit pointer arithmetic prohibited"
w1 += 4
r0 = 0
exit
