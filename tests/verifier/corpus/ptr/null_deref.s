; Nor is 0.
; type: socket_filter
; expect: reject "invalid mem access 'scalar'"
r2 = 0
r0 = *(u8 *)(r2 + 0)
exit
