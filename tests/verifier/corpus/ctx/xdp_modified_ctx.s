; A context pointer moved by a constant cannot be dereferenced (the field offset belongs in the
; instruction).
; type: xdp
; expect: reject "dereference of modified ctx ptr"
r1 += 4
r0 = *(u32 *)(r1 + 0)
exit
