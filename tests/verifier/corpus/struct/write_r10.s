; The frame pointer is read-only.
; type: socket_filter
; expect: reject "r10"
r10 = 0
r0 = 0
exit
