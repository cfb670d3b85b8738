/* The one header every benchmark program includes, so the same source builds two ways:
 *
 *   clang -target bpf -O2      an eBPF object with a SEC("syscall") entry; maps are BTF maps and
 *                              map operations are the kernel helpers;
 *   cc -O2 -shared -fPIC       a native shared library (the physical limit): the entry is an
 *                              exported function, maps are a small native hash table below, and
 *                              shim_time() runs the entry in a loop and returns the elapsed ns.
 *
 * Every entry takes a pointer to its input buffer (the syscall program convention) and returns
 * an int.  Inputs are laid out by bench/run_all.py, which also checks that every engine and the
 * native build return the same value.
 */
#ifndef PYBPF_BENCH_SHIM_H
#define PYBPF_BENCH_SHIM_H

#ifdef __bpf__

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;

#define BENCH(name) SEC("syscall") int name
#define HASH_MAP(name, ktype, vtype, entries)          \
    struct {                                           \
        __uint(type, BPF_MAP_TYPE_HASH);               \
        __uint(max_entries, entries);                  \
        __type(key, ktype);                            \
        __type(value, vtype);                          \
    } name SEC(".maps")
#define MAP_LOOKUP(map, key) bpf_map_lookup_elem(&(map), (key))
#define MAP_UPDATE(map, key, value, flags) bpf_map_update_elem(&(map), (key), (value), (flags))

char LICENSE[] SEC("license") = "GPL";

#else /* native build */

#include <stdint.h>
#include <string.h>
#include <time.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define BENCH(name) __attribute__((visibility("default"))) int name
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define BPF_ANY 0
#define BPF_NOEXIST 1
#define BPF_EXIST 2

/* A preallocated chained hash table with the semantics programs rely on: lookup returns a
 * pointer to the value (NULL when absent), update copies the value in (inserting when absent,
 * -E2BIG when full), flags BPF_ANY / BPF_NOEXIST / BPF_EXIST.  It uses pybpf's hash function
 * (pybpf-hash64, low 32 bits), so both sides do the same hashing work. */
struct shim_map {
    u32 key_size, value_size, max_entries, mask, used;
    u32 *buckets;   /* slot + 1 of the chain head, 0 = empty */
    u32 *next;      /* per slot: slot + 1 of the next element */
    u32 *hashes;
    u8 *keys;
    u8 *values;
};

static inline u64 shim_hash64(const u8 *data, u32 n) {
    const u64 k = 0x9E3779B97F4A7C15ull;
    u64 h = 0 ^ (u64)n;
    for (u32 i = 0; i < n; i += 8) {
        u64 w = 0;
        memcpy(&w, data + i, n - i < 8 ? n - i : 8);
        h = (h ^ w) * k;
        h ^= h >> 32;
    }
    h ^= h >> 30;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 27;
    h *= 0x94D049BB133111EBull;
    return h ^ (h >> 31);
}

static inline void *shim_lookup(struct shim_map *m, const void *key) {
    u32 h = (u32)shim_hash64(key, m->key_size);
    for (u32 s = m->buckets[h & m->mask]; s; s = m->next[s - 1])
        if (m->hashes[s - 1] == h && !memcmp(m->keys + (size_t)(s - 1) * m->key_size, key, m->key_size))
            return m->values + (size_t)(s - 1) * m->value_size;
    return 0;
}

static inline long shim_update(struct shim_map *m, const void *key, const void *value, u64 flags) {
    void *old = shim_lookup(m, key);
    if (old) {
        if (flags == BPF_NOEXIST)
            return -17; /* -EEXIST */
        memcpy(old, value, m->value_size);
        return 0;
    }
    if (flags == BPF_EXIST)
        return -2; /* -ENOENT */
    if (m->used == m->max_entries)
        return -7; /* -E2BIG */
    u32 s = m->used++;
    u32 h = (u32)shim_hash64(key, m->key_size);
    memcpy(m->keys + (size_t)s * m->key_size, key, m->key_size);
    memcpy(m->values + (size_t)s * m->value_size, value, m->value_size);
    m->hashes[s] = h;
    m->next[s] = m->buckets[h & m->mask];
    m->buckets[h & m->mask] = s + 1;
    return 0;
}

/* entries must be a power of two here (the benchmark maps are). */
#define HASH_MAP(name, ktype, vtype, entries)                                                         \
    static u32 name##_buckets[entries], name##_next[entries], name##_hashes[entries];                 \
    static ktype name##_keys[entries];                                                                \
    static vtype name##_values[entries];                                                              \
    static struct shim_map name = {sizeof(ktype), sizeof(vtype), entries, (entries) - 1, 0,           \
                                   name##_buckets, name##_next, name##_hashes, (u8 *)name##_keys,     \
                                   (u8 *)name##_values}
#define MAP_LOOKUP(map, key) shim_lookup(&(map), (key))
#define MAP_UPDATE(map, key, value, flags) shim_update(&(map), (key), (value), (flags))

/* Run fn(ctx) iters times; returns the elapsed nanoseconds, *last gets the last result.  The
 * entry is called through a pointer that comes from Python, so it cannot be inlined or hoisted. */
__attribute__((visibility("default"))) u64 shim_time(int (*fn)(void *), void *ctx, u64 iters, int *last) {
    struct timespec t0, t1;
    int r = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (u64 i = 0; i < iters; i++)
        r = fn(ctx);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *last = r;
    return (u64)(t1.tv_sec - t0.tv_sec) * 1000000000ull + (u64)(t1.tv_nsec - t0.tv_nsec);
}

#endif /* __bpf__ */

#define BSWAP16(x) __builtin_bswap16(x)
#define BSWAP32(x) __builtin_bswap32(x)

#endif /* PYBPF_BENCH_SHIM_H */
