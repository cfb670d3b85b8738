; A format string on the stack ("hi\0").
; type: socket_filter
; expect: accept
r1 = 0x6968
*(u32 *)(r10 - 4) = r1
r1 = r10
r1 += -4
r2 = 3
call bpf_trace_printk
r0 = 0
exit
