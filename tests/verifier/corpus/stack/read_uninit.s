; Nothing was written at fp-8: the load reads uninitialised stack.
; type: socket_filter
; expect: reject "uninitialised"
; kernel: differs "a privileged kernel loader allows reading uninitialised stack"
r0 = *(u64 *)(r10 - 8)
exit
