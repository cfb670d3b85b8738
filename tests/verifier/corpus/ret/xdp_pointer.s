; Returning a pointer leaks it.
; type: xdp
; expect: reject "leaks addr as return value"
; kernel: differs "a privileged kernel loader allows pointer leaks"
r0 = r1
exit
