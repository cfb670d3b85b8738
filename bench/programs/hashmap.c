/* A hash-map update/lookup loop: for each key, look it up, and store its count + 1 (so every
 * iteration is one lookup and one update, inserting the key the first time).  Returns the number
 * of lookups that found their key.  Input: struct hash_in; map: counts (HASH, u32 -> u64). */
#include "shim.h"

#define HASH_MAX 4096

HASH_MAP(counts, u32, u64, 1024);

struct hash_in {
    u64 count;
    u32 keys[HASH_MAX];
};

BENCH(hash_loop)(struct hash_in *in) {
    u64 n = in->count;
    int hits = 0;
    if (n > HASH_MAX)
        n = HASH_MAX;
    for (u64 i = 0; i < n; i++) {
        u32 key = in->keys[i];
        u64 next = 1;
        u64 *seen = MAP_LOOKUP(counts, &key);
        if (seen) {
            next = *seen + 1;
            hits++;
        }
        MAP_UPDATE(counts, &key, &next, BPF_ANY);
    }
    return hits;
}
