; Negating a pointer.
; type: socket_filter
; expect: reject "pointer arithmetic prohibited"
; kernel: differs "a privileged kernel loader allows pointer leaks"
r1 = -r1
r0 = 0
exit
