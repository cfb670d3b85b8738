; The buffer handed to the helper was never written.
; type: socket_filter
; map events ringbuf key=0 value=0 entries=4096
; expect: reject "invalid indirect read from stack"
; kernel: differs "a privileged kernel loader allows reading uninitialised stack"
r1 = map(events) ll
r2 = r10
r2 += -8
r3 = 8
r4 = 0
call bpf_ringbuf_output
r0 = 0
exit
