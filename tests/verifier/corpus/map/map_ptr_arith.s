; A map reference is not a memory pointer.
; type: socket_filter
; map vals hash key=4 value=8 entries=16
; expect: reject "pointer arithmetic on map_ptr prohibited"
r1 = map(vals) ll
r1 += 8
r0 = 0
exit
