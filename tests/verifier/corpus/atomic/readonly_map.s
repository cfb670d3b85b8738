; Read-only data cannot be modified atomically either.
; type: socket_filter
; map cfg array key=4 value=8 entries=1 readonly data=0000000000000000
; expect: reject "write into map forbidden"
r1 = map_value(cfg) ll
r2 = 1
lock *(u64 *)(r1 + 0) += r2
r0 = 0
exit
