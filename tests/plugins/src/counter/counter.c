/* A well-behaved plugin: replaces on_ack, observes compute, counts calls in a map. */
#include <pybpf/plugin.h>
#include "toy.h"

struct {
	__uint(type, 2); /* BPF_MAP_TYPE_ARRAY */
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

static void bump(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&calls, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("plugin/on_ack")
__u64 on_ack(void *ctx)
{
	__u64 acked = pb_get_input(TOY_ON_ACK_IN_ACKED);
	__u64 cwnd = pb_get_field(TOY_FIELD_CWND) + 2 * acked;
	pb_set_field(TOY_FIELD_CWND, cwnd);
	pb_set_output(TOY_ON_ACK_OUT_CWND, cwnd);
	bump(0);
	pb_printf("on_ack acked=%llu cwnd=%llu", acked, cwnd);
	return cwnd;
}

SEC("plugin/compute_post")
__u64 compute_post(void *ctx)
{
	__u32 slot = 1;
	__u64 *v = bpf_map_lookup_elem(&calls, &slot);
	if (v)
		*v = pb_get_result();
	return 0;
}
