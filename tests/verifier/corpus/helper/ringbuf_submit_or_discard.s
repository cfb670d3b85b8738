; One path submits, the other discards: both release the record.
; type: syscall
; map events ringbuf key=0 value=0 entries=4096
; expect: accept
r6 = *(u32 *)(r1 + 0)
r1 = map(events) ll
r2 = 16
r3 = 0
call bpf_ringbuf_reserve
if r0 == 0 goto out
*(u64 *)(r0 + 8) = r6
r1 = r0
r2 = 0
if r6 > 10 goto drop
call bpf_ringbuf_submit
goto out
drop:
call bpf_ringbuf_discard
out:
r0 = 0
exit
