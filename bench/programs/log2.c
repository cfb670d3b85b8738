/* Branch-free integer log2 over an array of u64 values (bpf-benchmark's log2_int):
 * returns the sum of floor(log2(v)).  Input: struct log2_in. */
#include "shim.h"

#define LOG2_MAX 4096

struct log2_in {
    u64 count;
    u64 values[LOG2_MAX];
};

static __always_inline u64 log2_u64(u64 v) {
    u64 r, s;
    r = (u64)(v > 0xFFFFFFFFull) << 5;
    v >>= r;
    s = (u64)(v > 0xFFFF) << 4;
    v >>= s;
    r |= s;
    s = (u64)(v > 0xFF) << 3;
    v >>= s;
    r |= s;
    s = (u64)(v > 0xF) << 2;
    v >>= s;
    r |= s;
    s = (u64)(v > 0x3) << 1;
    v >>= s;
    r |= s;
    return r | (v >> 1);
}

BENCH(log2_int)(struct log2_in *in) {
    u64 n = in->count, sum = 0;
    if (n > LOG2_MAX)
        n = LOG2_MAX;
    for (u64 i = 0; i < n; i++)
        sum += log2_u64(in->values[i]);
    return (int)sum;
}
