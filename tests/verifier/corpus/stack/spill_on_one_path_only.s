; Only one path writes fp-8; the other reaches the fill with the slot uninitialised.
; type: syscall
; expect: reject "uninitialised"
; kernel: differs "a privileged kernel loader allows reading uninitialised stack"
r2 = *(u32 *)(r1 + 0)
if r2 > 10 goto join
*(u64 *)(r10 - 8) = r1
join:
r3 = *(u64 *)(r10 - 8)
r0 = 0
exit
