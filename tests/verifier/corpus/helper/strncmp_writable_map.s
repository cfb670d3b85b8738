; The second string must be read-only.
; type: socket_filter
; map str array key=4 value=8 entries=1
; expect: reject "does not point to a readonly map"
r1 = 0
*(u64 *)(r10 - 8) = r1
r1 = r10
r1 += -8
r2 = 8
r3 = map_value(str) ll
call bpf_strncmp
exit
