; Tracepoint contexts are read-only raw records (up to 2048 bytes).
; type: tracepoint
; expect: accept
r2 = *(u64 *)(r1 + 2040)
r0 = 0
exit
