; x += 1 until it wraps to 0: the abstract value converges to "non-zero", a repeated state.
; type: syscall
; expect: reject "infinite loop detected"
r1 = *(u64 *)(r1 + 0)
loop:
r1 += 1
if r1 != 0 goto loop
r0 = 0
exit
