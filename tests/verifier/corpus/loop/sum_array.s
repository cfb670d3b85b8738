; Sum an 8-element u64 array on the stack, indexing it with the counter.
; type: socket_filter
; expect: accept
r1 = 0
r2 = -64
init:
r3 = r10
r3 += r2
*(u64 *)(r3 + 0) = r1
r2 += 8
if r2 s< 0 goto init
r0 = 0
r1 = 0
sum:
r2 = r1
r2 <<= 3
r3 = r10
r3 += -64
r3 += r2
r4 = *(u64 *)(r3 + 0)
r0 += r4
r1 += 1
if r1 < 8 goto sum
exit
