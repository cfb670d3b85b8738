; The record is 8 bytes: bytes [8, 16) are not part of it.
; type: socket_filter
; map events ringbuf key=0 value=0 entries=4096
; expect: reject "invalid access to memory"
r1 = map(events) ll
r2 = 8
r3 = 0
call bpf_ringbuf_reserve
if r0 == 0 goto out
*(u64 *)(r0 + 8) = 1
r1 = r0
r2 = 0
call bpf_ringbuf_discard
out:
r0 = 0
exit
