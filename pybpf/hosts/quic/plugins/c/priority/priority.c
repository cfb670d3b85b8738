/* Strict-priority stream scheduler: the stream with the lowest priority value that has new data
 * goes first.  Priorities come from the hash map `priorities` (stream id -> priority, both u64),
 * which the application fills and changes while the connection runs; a stream without an entry
 * comes after every stream that has one (PRIORITY_UNSET), and a stream with nothing new to send
 * after all of them (PRIORITY_IDLE) so it does not hold the others back.  Ties keep aioquic's
 * round-robin order (the host sorts stably).  The C version of PriorityScheduler. */
#include <pybpf/plugin.h>
#include "../../../include/pquic.h"

#define PRIORITY_UNSET (1ULL << 32)
#define PRIORITY_IDLE (PRIORITY_UNSET + 1)
#define MAX_STREAMS 4096

struct {
	__uint(type, 1); /* BPF_MAP_TYPE_HASH */
	__uint(max_entries, MAX_STREAMS);
	__type(key, __u64);
	__type(value, __u64);
} priorities SEC(".maps");

SEC("plugin/stream_priority")
__u64 stream_priority(void *ctx)
{
	__u64 stream_id = pb_get_input(PQUIC_STREAM_PRIORITY_IN_STREAM_ID);
	__u64 priority = PRIORITY_IDLE;

	if (pb_get_input(PQUIC_STREAM_PRIORITY_IN_PENDING_BYTES)) {
		__u64 *value = bpf_map_lookup_elem(&priorities, &stream_id);
		priority = value ? *value : PRIORITY_UNSET;
	}
	pb_set_output(PQUIC_STREAM_PRIORITY_OUT_PRIORITY, priority);
	return priority;
}
