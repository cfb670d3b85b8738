/* BTF-defined maps and global data, compiled by tests/elf/test_btf.py with
 * clang -target bpf -O2 -g -c.  The test asserts the exact values below, so
 * keep the two in step when editing.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct flow_key {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
	unsigned int flags : 4;
	unsigned int state : 12;
	char comm[16];
};

typedef __u32 counter_idx_t;

/* HASH with struct key and value, pinned by name. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows SEC(".maps");

/* ARRAY with a typedef'd key and explicit sizes that agree with the types. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(key_size, sizeof(__u32));
	__type(key, counter_idx_t);
	__type(value, __u64);
	__uint(max_entries, 16);
} counters SEC(".maps");

/* PERCPU_ARRAY declared only with sizes, no key/value types. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(key_size, 4);
	__uint(value_size, 32);
	__uint(max_entries, 4);
	__uint(numa_node, 0);
} scratch SEC(".maps");

/* RINGBUF whose size is not a page multiple: rounding is the map layer's job. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 5000);
} events SEC(".maps");

/* Bloom filter with map_extra given in enum form (what libbpf's __ulong expands to). */
struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__type(value, __u32);
	__uint(max_entries, 64);
	enum { bloom_hashes = 3 } map_extra;
} bloom SEC(".maps");

int prog_b(void *ctx);

/* PROG_ARRAY whose second slot is initialised through .rel.maps. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} jump_table SEC(".maps") = {
	.values = { [1] = (void *)&prog_b },
};

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct flow_key);
} inner_a SEC(".maps");

/* ARRAY_OF_MAPS with an inner map template. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer SEC(".maps") = {
	.values = { &inner_a },
};

/* Global data in all three kinds of section, plus a static variable. */
int enabled = 1;
__u64 total_bytes = 7;
static int hidden_counter = 5;
const volatile __u32 sample_rate = 100;
const volatile char tag[16] = "pybpf";
__u64 hits;
struct flow_key last_key;

SEC("xdp")
int prog_a(struct xdp_md *ctx)
{
	__u32 idx = 0;
	__u64 *cnt = bpf_map_lookup_elem(&counters, &idx);

	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	if (!enabled || sample_rate == 0)
		return XDP_PASS;
	hits++;
	hidden_counter++;
	total_bytes += last_key.sport + tag[0];
	bpf_tail_call(ctx, &jump_table, 1);
	return XDP_PASS;
}

SEC("xdp")
int prog_b(void *ctx)
{
	struct flow_key key = {};
	struct flow_stats *st = bpf_map_lookup_elem(&flows, &key);

	if (st)
		st->packets++;
	return XDP_DROP;
}

static __attribute__((noinline)) int helper_sub(int x)
{
	return x * 3 + hits;
}

SEC("tc")
int prog_c(struct __sk_buff *skb)
{
	return helper_sub(skb->len);
}

char LICENSE[] SEC("license") = "GPL";
