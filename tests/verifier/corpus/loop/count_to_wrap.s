; Counting from 0 until the counter wraps takes 2^64 iterations: the budget stops it.
; type: socket_filter
; options: max_insns=20000
; expect: reject "too large"
r1 = 0
loop:
r1 += 1
if r1 != 0 goto loop
r0 = 0
exit
