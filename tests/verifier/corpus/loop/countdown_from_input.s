; Counting an input byte down to 0: at most 255 iterations.
; type: syscall
; expect: accept
r1 = *(u8 *)(r1 + 0)
loop:
if r1 == 0 goto done
r1 -= 1
goto loop
done:
r0 = 0
exit
