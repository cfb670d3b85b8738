/* on_ack observers: pre records cwnd before, post records the result; both count calls. */
#include <pybpf/plugin.h>
#include "toy.h"

struct {
	__uint(type, 2);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} obs SEC(".maps");

static void put(__u32 k, __u64 v)
{
	bpf_map_update_elem(&obs, &k, &v, 0);
}

SEC("plugin/pre")
__u64 pre(void *ctx)
{
	put(0, pb_get_field(TOY_FIELD_CWND));
	put(2, pb_get_result());
	return 123; /* ignored */
}

SEC("plugin/post")
__u64 post(void *ctx)
{
	put(1, pb_get_result());
	put(3, pb_get_field(TOY_FIELD_CWND));
	return 456; /* ignored */
}
