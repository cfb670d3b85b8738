# Sum the integers 1..100 in a loop, then store and reload the result through the stack.
# Run it with:  pybpf run examples/hello.asm      (add --trace to watch every instruction)
    r0 = 0
    r1 = 100
loop:
    r0 += r1
    r1 -= 1
    if r1 != 0 goto loop
    *(u64 *)(r10 - 8) = r0
    r0 = *(u64 *)(r10 - 8)
    exit
