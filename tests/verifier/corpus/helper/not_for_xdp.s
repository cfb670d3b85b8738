; bpf_skb_load_bytes works on socket buffers, not XDP frames.
; type: xdp
; expect: reject "cannot use helper"
r2 = 0
r3 = r10
r3 += -4
r4 = 4
call bpf_skb_load_bytes
r0 = 2
exit
