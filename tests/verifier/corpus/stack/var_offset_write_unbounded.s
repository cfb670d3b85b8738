; The offset added to the frame pointer is any u32: the store may leave the frame.
; type: syscall
; expect: reject "invalid variable-offset write to stack"
r2 = *(u32 *)(r1 + 0)
r3 = r10
r3 += -16
r3 += r2
*(u8 *)(r3 + 0) = 1
r0 = 0
exit
