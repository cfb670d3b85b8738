// Every map type the loader supports, each used by a program the way real code uses it.
// Programs are of type "syscall": r1 points at a caller-chosen buffer (here: u32 words).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct flow { __u32 addr; __u16 port; __u16 proto; };
struct stats { __u64 packets; __u64 bytes; };

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64);
         __type(key, struct flow); __type(value, struct stats); } flows SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8);
         __type(key, __u32); __type(value, __u64); } counters SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 16);
         __type(key, __u32); __type(value, __u64); } pc_hash SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 4);
         __type(key, __u32); __type(value, __u64); } pc_array SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 4);
         __type(key, __u32); __type(value, __u32); } lru SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH); __uint(max_entries, 4);
         __type(key, __u32); __type(value, __u32); } lru_pc SEC(".maps");
struct lpm_key { __u32 prefixlen; __u8 addr[4]; };
struct { __uint(type, BPF_MAP_TYPE_LPM_TRIE); __uint(max_entries, 16); __uint(map_flags, BPF_F_NO_PREALLOC);
         __type(key, struct lpm_key); __type(value, __u32); } routes SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_QUEUE); __uint(max_entries, 8); __type(value, __u32); } fifo SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_STACK); __uint(max_entries, 8); __type(value, __u32); } lifo SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_BLOOM_FILTER); __uint(max_entries, 64); __type(value, __u32); } seen SEC(".maps");

struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2);
               __type(key, __u32); __type(value, __u32); };
struct inner inner_a SEC(".maps"), inner_b SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 2); __type(key, __u32);
         __array(values, struct inner); } outer_arr SEC(".maps") = { .values = { &inner_a, &inner_b } };
struct { __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS); __uint(max_entries, 4); __type(key, __u32);
         __array(values, struct inner); } outer_hash SEC(".maps") = { .values = { [1] = &inner_b } };

/* Count a flow: in[0] = addr, in[1] = port, in[2] = bytes.  Returns the packet count. */
SEC("syscall")
int count_flow(__u32 *in) {
    struct flow key = { .addr = in[0], .port = (__u16)in[1], .proto = 6 };
    struct stats *s = bpf_map_lookup_elem(&flows, &key);
    if (!s) {
        struct stats fresh = { 1, in[2] };
        if (bpf_map_update_elem(&flows, &key, &fresh, BPF_NOEXIST))
            return -1;
        return 1;
    }
    __sync_fetch_and_add(&s->packets, 1);
    __sync_fetch_and_add(&s->bytes, in[2]);
    return (int)s->packets;
}

/* Per-CPU and array counters: bump counters[in[0]], pc_array[0] and pc_hash[in[0]]. */
SEC("syscall")
int bump(__u32 *in) {
    __u32 k = in[0], zero = 0;
    __u64 *c = bpf_map_lookup_elem(&counters, &k);
    if (!c)
        return -1;
    *c += 1;
    __u64 *p = bpf_map_lookup_elem(&pc_array, &zero);
    if (p)
        *p += 1;
    __u64 one = 1;
    __u64 *h = bpf_map_lookup_elem(&pc_hash, &k);
    if (h)
        *h += 1;
    else
        bpf_map_update_elem(&pc_hash, &k, &one, BPF_ANY);
    return (int)*c;
}

/* Insert in[0] into the LRU maps; returns how many of keys 0..9 are still present. */
SEC("syscall")
int lru_insert(__u32 *in) {
    __u32 k = in[0], v = in[0] * 10;
    bpf_map_update_elem(&lru, &k, &v, BPF_ANY);
    bpf_map_update_elem(&lru_pc, &k, &v, BPF_ANY);
    int present = 0;
    for (__u32 i = 0; i < 10; i++)
        if (bpf_map_lookup_elem(&lru, &i))
            present++;
    return present;
}

/* Longest-prefix match of the IPv4 address in in[0] (network order bytes). */
SEC("syscall")
int route(__u32 *in) {
    struct lpm_key key = { .prefixlen = 32 };
    __builtin_memcpy(key.addr, in, 4);
    __u32 *hop = bpf_map_lookup_elem(&routes, &key);
    return hop ? (int)*hop : -1;
}

/* Push in[0] and in[1] on both queue and stack, pop one of each: returns fifo*100 + lifo. */
SEC("syscall")
int queue_stack(__u32 *in) {
    __u32 a = in[0], b = in[1], x = 0, y = 0;
    bpf_map_push_elem(&fifo, &a, 0);
    bpf_map_push_elem(&fifo, &b, 0);
    bpf_map_push_elem(&lifo, &a, 0);
    bpf_map_push_elem(&lifo, &b, 0);
    if (bpf_map_pop_elem(&fifo, &x) || bpf_map_pop_elem(&lifo, &y))
        return -1;
    return x * 100 + y;
}

struct event { __u32 kind; __u32 value; };

/* Emit two ring-buffer records (one reserved, one copied) and reserve-discard a third. */
SEC("syscall")
int emit(__u32 *in) {
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e)
        return -1;
    e->kind = 1;
    e->value = in[0];
    bpf_ringbuf_submit(e, 0);
    struct event copy = { 2, in[0] + 1 };
    if (bpf_ringbuf_output(&events, &copy, sizeof(copy), 0))
        return -2;
    struct event *d = bpf_ringbuf_reserve(&events, sizeof(*d), 0);
    if (d)
        bpf_ringbuf_discard(d, 0);
    return 0;
}

/* Bloom filter: add in[0], then report whether in[0] and in[1] may be present. */
SEC("syscall")
int bloom(__u32 *in) {
    __u32 a = in[0], b = in[1];
    bpf_map_push_elem(&seen, &a, 0);
    return (bpf_map_peek_elem(&seen, &a) == 0) * 10 + (bpf_map_peek_elem(&seen, &b) == 0);
}

/* Map in map: inner map chosen by in[0] through the array and the hash of maps; write and read back. */
SEC("syscall")
int map_in_map(__u32 *in) {
    __u32 idx = in[0], zero = 0;
    void *inner = bpf_map_lookup_elem(&outer_arr, &idx);
    if (!inner)
        return -1;
    __u32 *v = bpf_map_lookup_elem(inner, &zero);
    if (!v)
        return -2;
    *v += in[1];
    void *via_hash = bpf_map_lookup_elem(&outer_hash, &idx);
    if (!via_hash)
        return (int)*v;
    __u32 *w = bpf_map_lookup_elem(via_hash, &zero);
    return w ? (int)*w + 1000 : -3;
}

char _license[] SEC("license") = "GPL";
