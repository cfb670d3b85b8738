; Pointers cannot be multiplied.
; type: socket_filter
; expect: reject "pointer arithmetic with *= operator prohibited"
r2 = r10
r2 *= 2
r0 = 0
exit
