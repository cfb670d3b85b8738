; 256 + 256 = 512 bytes over two frames.
; type: socket_filter
; expect: accept
*(u64 *)(r10 - 256) = 0
call f
r0 = 0
exit
f:
*(u64 *)(r10 - 256) = 0
r0 = 0
exit
