; A reserved record is readable memory for another helper, and is then discarded.
; type: socket_filter
; map events ringbuf key=0 value=0 entries=4096
; expect: accept
r1 = map(events) ll
r2 = 8
r3 = 0
call bpf_ringbuf_reserve
if r0 == 0 goto out
r6 = r0
*(u64 *)(r6 + 0) = 3
r1 = map(events) ll
r2 = r6
r3 = 8
r4 = 0
call bpf_ringbuf_output
r1 = r6
r2 = 0
call bpf_ringbuf_discard
out:
r0 = 0
exit
