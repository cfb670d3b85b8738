; The slot was never written.
; type: socket_filter
; expect: reject "uninitialised"
; kernel: differs "a privileged kernel loader allows reading uninitialised stack"
r1 = 1
lock *(u64 *)(r10 - 8) += r1
r0 = 0
exit
