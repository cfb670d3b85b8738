; The jump lands on the second half of an lddw.
; type: socket_filter
; expect: reject "second half of an lddw"
r0 = 0
if r0 == 0 goto +1
r1 = 0x100000000 ll
exit
