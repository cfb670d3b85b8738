; ctx - fp relates two unrelated regions.
; type: socket_filter
; expect: reject "pointer -= pointer prohibited"
; kernel: differs "a privileged kernel loader allows subtracting any two pointers"
r2 = r1
r2 -= r10
r0 = 0
exit
