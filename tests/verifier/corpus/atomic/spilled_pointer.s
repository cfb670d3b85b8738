; The slot holds a spilled pointer.
; type: socket_filter
; kernel: differs "a privileged kernel loader allows atomic arithmetic on a spilled pointer"
; expect: reject "atomic operation on a spilled pointer"
*(u64 *)(r10 - 8) = r1
r2 = 1
lock *(u64 *)(r10 - 8) += r2
r0 = 0
exit
