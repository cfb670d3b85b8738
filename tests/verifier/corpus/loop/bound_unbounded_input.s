; A loop bound that may be any u64: the counter never repeats and the budget stops it.
; type: syscall
; options: max_insns=20000
; expect: reject "too large"
r2 = *(u64 *)(r1 + 0)
r1 = 0
loop:
if r1 >= r2 goto done
r1 += 1
goto loop
done:
r0 = r1
exit
