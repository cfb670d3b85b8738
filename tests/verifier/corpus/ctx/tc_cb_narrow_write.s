; cb[] accepts narrow stores at any naturally aligned offset.
; type: sched_cls
; expect: accept
*(u8 *)(r1 + 49) = 1
*(u16 *)(r1 + 50) = 2
r0 = 0
exit
