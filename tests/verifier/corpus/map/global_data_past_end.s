; data + 8 with an 8-byte access at +8 reads [16, 24) of 16.
; type: socket_filter
; map data array key=4 value=16 entries=1
; expect: reject "invalid access to map value"
r1 = map_value(data) + 8 ll
r2 = *(u64 *)(r1 + 8)
r0 = 0
exit
