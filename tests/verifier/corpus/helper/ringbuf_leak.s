; A successful reservation must be submitted or discarded on every path.
; type: socket_filter
; map events ringbuf key=0 value=0 entries=4096
; expect: reject "Unreleased reference"
r1 = map(events) ll
r2 = 8
r3 = 0
call bpf_ringbuf_reserve
if r0 == 0 goto out
*(u64 *)(r0 + 0) = 1
out:
r0 = 0
exit
