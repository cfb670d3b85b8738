/* Byte-by-byte copy of in->len bytes from src to dst (bpf-benchmark's memcpy); returns the
 * last byte copied.  Input: struct memcpy_in. */
#include "shim.h"

#define MEMCPY_MAX (1 << 20)

struct memcpy_in {
    u64 len;
    u8 src[MEMCPY_MAX];
    u8 dst[MEMCPY_MAX];
};

BENCH(byte_memcpy)(struct memcpy_in *in) {
    u64 n = in->len;
    if (n > MEMCPY_MAX)
        n = MEMCPY_MAX;
    for (u64 i = 0; i < n; i++)
        in->dst[i] = in->src[i];
    return n ? in->dst[n - 1] : 0;
}
