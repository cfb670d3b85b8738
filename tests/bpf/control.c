// Control flow through helpers: bpf_loop callbacks, tail calls through a prog array with
// initialisers, for_each_map_elem, and a pinned map.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4);
         __type(key, __u32); __type(value, __u64); } values SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 32);
         __type(key, __u32); __type(value, __u64); __uint(pinning, LIBBPF_PIN_BY_NAME); } pinned_counts SEC(".maps");

SEC("syscall") int tail_one(void *ctx) { return 1; }
SEC("syscall") int tail_two(void *ctx) { return 2; }

struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 4); __type(key, __u32);
         __array(values, int (void *)); } jumps SEC(".maps") = { .values = { [1] = &tail_one, [2] = &tail_two } };

struct loop_ctx { __u64 sum; __u32 limit; };

static long add_index(__u32 i, struct loop_ctx *c) {
    if (i >= c->limit)
        return 1;               /* stop early */
    c->sum += i;
    return 0;
}

/* Sum 0..in[0]-1 with bpf_loop (at most 100 iterations): returns the sum. */
SEC("syscall")
int loop_sum(__u32 *in) {
    struct loop_ctx c = { 0, in[0] };
    long n = bpf_loop(100, add_index, &c, 0);
    return (int)(c.sum * 1000 + n);
}

/* Tail call into slot in[0]; falls through (returns 99) when the slot is empty. */
SEC("syscall")
int dispatch(__u32 *in) {
    bpf_tail_call(in, &jumps, in[0]);
    return 99;
}

static long sum_elem(void *map, __u32 *key, __u64 *val, __u64 *acc) {
    *acc += *val * (*key + 1);
    return 0;
}

/* values[i] = in[i] for i < 4, then sum values[k] * (k + 1) with for_each_map_elem. */
SEC("syscall")
int weighted(__u32 *in) {
    for (__u32 i = 0; i < 4; i++) {
        __u64 v = in[i];
        bpf_map_update_elem(&values, &i, &v, BPF_ANY);
    }
    __u64 acc = 0;
    bpf_for_each_map_elem(&values, sum_elem, &acc, 0);
    return (int)acc;
}

/* Count in[0] in the pinned map; returns the new count. */
SEC("syscall")
int pin_count(__u32 *in) {
    __u32 k = in[0];
    __u64 one = 1, *v = bpf_map_lookup_elem(&pinned_counts, &k);
    if (v) {
        __sync_fetch_and_add(v, 1);
        return (int)*v;
    }
    bpf_map_update_elem(&pinned_counts, &k, &one, BPF_NOEXIST);
    return 1;
}

/* Strings and formatting helpers: snprintf into a buffer and strncmp against a literal. */
SEC("syscall")
int fmt(__u32 *in) {
    char buf[32];
    __u64 args[2] = { in[0], in[1] };
    long n = bpf_snprintf(buf, sizeof(buf), "%u-%u", args, sizeof(args));
    bpf_printk("fmt made %s (%d)", buf, n);
    return (int)n * 100 + (bpf_strncmp(buf, sizeof(buf), "7-42") == 0);
}

char _license[] SEC("license") = "GPL";
