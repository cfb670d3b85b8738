; A program must end in exit.
; type: socket_filter
; expect: reject "no exit"
; Linux rejects it too (the jump loops forever).
r0 = 0
loop:
goto loop
