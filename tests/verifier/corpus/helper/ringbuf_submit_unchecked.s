; The reservation may have failed (NULL): it must be checked before use.
; type: socket_filter
; map events ringbuf key=0 value=0 entries=4096
; expect: reject "expected=ringbuf_mem"
r1 = map(events) ll
r2 = 8
r3 = 0
call bpf_ringbuf_reserve
r1 = r0
r2 = 0
call bpf_ringbuf_submit
r0 = 0
exit
