; Direct access to a single-entry array (global data) within its 16 bytes.
; type: socket_filter
; map data array key=4 value=16 entries=1
; expect: accept
r1 = map_value(data) + 8 ll
r2 = *(u64 *)(r1 + 0)
r2 += 1
*(u64 *)(r1 + 0) = r2
r0 = 0
exit
