; Division by zero is defined (x / 0 = 0, x % 0 = x) and allowed.
; type: socket_filter
; expect: accept
r0 = 5
r1 = 0
r0 /= r1
r2 = 7
r2 %= r1
r0 += r2
exit
