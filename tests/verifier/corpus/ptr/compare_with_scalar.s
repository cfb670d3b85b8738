; A pointer may be compared with a number; both outcomes are explored.
; type: socket_filter
; expect: accept
r0 = 0
if r1 > 1000 goto out
r0 = 1
out:
exit
