/* Naive strcmp of two equal NUL-terminated strings (bpf-benchmark's strcmp_full): walks both
 * to the end.  Returns the difference of the first mismatching bytes (0 when equal) plus the
 * number of bytes compared, so the whole walk is observable.  Input: struct strcmp_in. */
#include "shim.h"

#define STRCMP_MAX (1 << 20)

struct strcmp_in {
    u8 a[STRCMP_MAX + 1];
    u8 b[STRCMP_MAX + 1];
};

BENCH(str_cmp)(struct strcmp_in *in) {
    u64 i = 0;
    while (i < STRCMP_MAX && in->a[i] && in->a[i] == in->b[i])
        i++;
    return (int)(in->a[i] - in->b[i]) + (int)i;
}
