; A function calling itself.
; type: socket_filter
; expect: reject "recursive call"
r1 = 3
call f
exit
f:
r0 = 0
if r1 == 0 goto done
r1 -= 1
call f
done:
exit
