; A syscall program's context is the caller's buffer: its pointer may be moved like any
; memory pointer (here to in[1]).
; type: syscall
; ctx_size: 64
; expect: accept
; kernel: differs "Linux does not let any program dereference a moved context pointer"
r1 += 4
r0 = *(u32 *)(r1 + 0)
exit
