; r10 may be read and copied but the stack pointer arithmetic result must stay a pointer.
; type: socket_filter
; expect: reject "bitwise operator"
r2 = r10
r2 &= -16
r0 = 0
exit
