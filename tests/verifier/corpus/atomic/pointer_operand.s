; Adding a pointer into memory leaks it.
; type: socket_filter
; expect: reject "leaks addr into mem"
; kernel: differs "a privileged kernel loader allows pointer leaks"
*(u64 *)(r10 - 8) = 0
lock *(u64 *)(r10 - 8) += r1
r0 = 0
exit
