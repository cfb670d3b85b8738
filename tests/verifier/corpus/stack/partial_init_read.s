; Only the low 4 bytes of the slot at fp-8 are written; an 8-byte read sees 4 uninitialised bytes.
; type: socket_filter
; expect: reject "uninitialised"
; kernel: differs "a privileged kernel loader allows reading uninitialised stack"
*(u32 *)(r10 - 8) = 1
r0 = *(u64 *)(r10 - 8)
exit
