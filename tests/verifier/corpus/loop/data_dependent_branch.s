; A branch on input data inside a bounded loop; both paths continue the loop.
; type: syscall
; expect: accept
r6 = r1
r7 = 0
r8 = 0
loop:
r3 = *(u8 *)(r6 + 0)
r3 += r8
if r3 > 100 goto big
r7 += r3
goto next
big:
r7 -= 1
next:
r8 += 1
if r8 < 16 goto loop
r0 = r7
exit
