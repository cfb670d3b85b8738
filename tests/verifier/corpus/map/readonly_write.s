; Read-only data (like .rodata) cannot be written.
; type: socket_filter
; map cfg array key=4 value=8 entries=1 readonly data=0300000000000000
; expect: reject "write into map forbidden"
r1 = map_value(cfg) ll
*(u64 *)(r1 + 0) = 1
r0 = 0
exit
