; The read-only bytes hold no NUL terminator.
; type: socket_filter
; map str array key=4 value=8 entries=1 readonly data=6162636465666768
; expect: reject "not zero-terminated"
r1 = 0
*(u64 *)(r10 - 8) = r1
r1 = r10
r1 += -8
r2 = 8
r3 = map_value(str) ll
call bpf_strncmp
exit
