; A loop bound read from the context and masked to [0, 15].
; type: syscall
; expect: accept
r2 = *(u8 *)(r1 + 0)
r2 &= 15
r1 = 0
loop:
if r1 >= r2 goto done
r1 += 1
goto loop
done:
r0 = r1
exit
