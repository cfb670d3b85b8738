; After submit the record belongs to the consumer: a copy of the pointer is unusable.
; type: socket_filter
; map events ringbuf key=0 value=0 entries=4096
; expect: reject "R6 !read_ok"
; Linux rejects it too, with another message (the released pointer becomes a scalar).
r1 = map(events) ll
r2 = 8
r3 = 0
call bpf_ringbuf_reserve
if r0 == 0 goto out
r6 = r0
r1 = r0
r2 = 0
call bpf_ringbuf_submit
*(u64 *)(r6 + 0) = 1
out:
r0 = 0
exit
