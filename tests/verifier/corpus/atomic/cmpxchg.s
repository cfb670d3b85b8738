; Compare-and-exchange on the stack; the old value comes back in r0.
; type: socket_filter
; expect: accept
*(u64 *)(r10 - 8) = 0
r0 = 0
r1 = 2
r0 = cmpxchg_64(r10 - 8, r0, r1)
exit
