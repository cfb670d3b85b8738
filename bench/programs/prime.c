/* Prime counting by trial division (division bound, like bpf-benchmark's prime):
 * the number of primes below in->n.  Input: struct prime_in. */
#include "shim.h"

struct prime_in {
    u64 n;
    u64 count; /* written: the result */
};

BENCH(prime)(struct prime_in *in) {
    u64 n = in->n, count = 0;
    for (u64 i = 2; i < n; i++) {
        int is_prime = 1;
        for (u64 j = 2; j * j <= i; j++) {
            if (i % j == 0) {
                is_prime = 0;
                break;
            }
        }
        count += is_prime;
    }
    in->count = count;
    return (int)count;
}
