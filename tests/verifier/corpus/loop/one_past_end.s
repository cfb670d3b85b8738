; The counter runs 0..8 inclusive: the last iteration writes fp-64 + 64 = fp, out of the frame.
; type: socket_filter
; expect: reject "out of bounds"
r1 = 0
loop:
r2 = r1
r2 <<= 3
r3 = r10
r3 += -64
r3 += r2
*(u64 *)(r3 + 0) = 0
r1 += 1
if r1 <= 8 goto loop
r0 = 0
exit
