; Copy an initialised 8-byte stack buffer into the ring buffer.
; type: socket_filter
; map events ringbuf key=0 value=0 entries=4096
; expect: accept
r1 = 5
*(u64 *)(r10 - 8) = r1
r1 = map(events) ll
r2 = r10
r2 += -8
r3 = 8
r4 = 0
call bpf_ringbuf_output
r0 = 0
exit
