; The reservation size must be a known constant.
; type: syscall
; map events ringbuf key=0 value=0 entries=4096
; expect: reject "is not a known constant"
r2 = *(u32 *)(r1 + 0)
r2 &= 63
r1 = map(events) ll
r3 = 0
call bpf_ringbuf_reserve
if r0 == 0 goto out
r1 = r0
r2 = 0
call bpf_ringbuf_discard
out:
r0 = 0
exit
