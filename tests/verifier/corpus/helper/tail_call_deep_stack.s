; Tail calls are not allowed with more than 256 bytes of stack in the frames below.
; type: socket_filter
; map jt prog_array key=4 value=4 entries=4
; kernel: skip "Linux needs BTF to allow tail calls in sub-programs"
; expect: reject "tail_calls are not allowed"
*(u64 *)(r10 - 264) = 0
call f
r0 = 0
exit
f:
r2 = map(jt) ll
r3 = 0
call bpf_tail_call
r0 = 0
exit
