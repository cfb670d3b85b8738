; Two pointers cannot be added.
; type: socket_filter
; expect: reject "pointer += pointer prohibited"
r2 = r10
r2 += r1
r0 = 0
exit
