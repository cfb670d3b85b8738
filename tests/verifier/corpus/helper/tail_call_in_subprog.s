; A tail call from a sub-program with little stack below it.
; type: socket_filter
; map jt prog_array key=4 value=4 entries=4
; kernel: skip "Linux needs BTF to allow tail calls in sub-programs"
; expect: accept
*(u64 *)(r10 - 8) = 0
call f
r0 = 0
exit
f:
r2 = map(jt) ll
r3 = 0
call bpf_tail_call
r0 = 0
exit
