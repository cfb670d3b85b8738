; The counter lives on the stack (unoptimised code) and still bounds the loop.
; type: socket_filter
; expect: accept
r1 = 0
*(u64 *)(r10 - 8) = r1
loop:
r1 = *(u64 *)(r10 - 8)
if r1 >= 10 goto done
r1 += 1
*(u64 *)(r10 - 8) = r1
goto loop
done:
r0 = 0
exit
