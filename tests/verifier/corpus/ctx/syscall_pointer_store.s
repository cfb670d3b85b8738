; Storing a pointer into the context would leak it to the caller.
; type: syscall
; expect: reject "leaks addr into ctx"
; kernel: differs "a privileged kernel loader allows pointer leaks"
r2 = r10
*(u64 *)(r1 + 0) = r2
r0 = 0
exit
