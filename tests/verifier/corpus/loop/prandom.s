; A loop that only ends when a random number is small may never end.
; type: socket_filter
; expect: reject "infinite loop detected"
loop:
call bpf_get_prandom_u32
if r0 > 5 goto loop
r0 = 0
exit
