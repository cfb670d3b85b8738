; BTF variable references are not supported.
; type: socket_filter
; expect: reject "BTF variable"
r1 = btf_var(1) ll
r0 = 0
exit
