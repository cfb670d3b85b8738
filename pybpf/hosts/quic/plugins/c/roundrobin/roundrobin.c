/* Round-robin stream scheduler: every stream has the same priority, so aioquic's own rotation
 * decides who writes next.  With a quantum, each stream writes at most that many new bytes into
 * a packet, so the streams share packets instead of taking one each.  The quantum is slot 0 of
 * the array map `quantum`, which the application writes at any time (0, the initial value: no
 * quantum).  The C version of RoundRobinScheduler (plugins/scheduler.py). */
#include <pybpf/plugin.h>
#include "../../../include/pquic.h"

struct {
	__uint(type, 2); /* BPF_MAP_TYPE_ARRAY */
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} quantum SEC(".maps");

SEC("plugin/stream_priority")
__u64 stream_priority(void *ctx)
{
	pb_set_output(PQUIC_STREAM_PRIORITY_OUT_PRIORITY, 0);
	return 0;
}

SEC("plugin/stream_quota")
__u64 stream_quota(void *ctx)
{
	__u64 credit = pb_get_input(PQUIC_STREAM_QUOTA_IN_CREDIT_BYTES);
	__u32 zero = 0;
	__u64 *q = bpf_map_lookup_elem(&quantum, &zero);
	__u64 quota = credit;

	if (q && *q && *q < credit)
		quota = *q;
	pb_set_output(PQUIC_STREAM_QUOTA_OUT_MAX_NEW_BYTES, quota);
	return quota;
}
