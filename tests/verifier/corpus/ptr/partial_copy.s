; Copying the low 32 bits of a pointer leaks part of it.
; type: socket_filter
; expect: reject "partial copy of pointer"
; kernel: differs "a privileged kernel loader allows pointer leaks"
w2 = w1
r0 = 0
exit
