; A copy of the frame pointer moved down, with a positive instruction offset.
; type: socket_filter
; expect: accept
r2 = r10
r2 += -16
*(u64 *)(r2 + 8) = 1
r0 = *(u64 *)(r10 - 8)
exit
