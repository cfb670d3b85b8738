; bpf_get_prandom_u32 returns a u32: masked with 7 it indexes 8 stack bytes.
; type: socket_filter
; expect: accept
*(u64 *)(r10 - 8) = 0
call bpf_get_prandom_u32
r0 &= 7
r1 = r10
r1 += -8
r1 += r0
r0 = *(u8 *)(r1 + 0)
exit
