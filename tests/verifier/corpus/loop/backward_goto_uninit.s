; The second iteration reads r3, which only the code after the loop would set.
; type: socket_filter
; expect: reject "R3 !read_ok"
r1 = 0
loop:
if r1 == 1 goto use
r1 = 1
goto loop
use:
r0 = r3
exit
