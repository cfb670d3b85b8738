; A number is not a pointer.
; type: socket_filter
; expect: reject "invalid mem access 'scalar'"
r2 = 4096
r0 = *(u64 *)(r2 + 0)
exit
