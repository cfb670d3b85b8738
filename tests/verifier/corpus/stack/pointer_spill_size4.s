; A pointer can only be spilled whole (8 bytes).
; type: syscall
; expect: reject "invalid size of register spill"
*(u32 *)(r10 - 8) = r1
r0 = 0
exit
