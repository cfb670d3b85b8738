/* process_frame: a replace for frame type 7 only, and a pre observer of every frame type. */
#include <pybpf/plugin.h>
#include "toy.h"

struct {
	__uint(type, 2);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

SEC("plugin/frame7")
__u64 frame7(void *ctx)
{
	return 7000 + 2 * pb_get_input(TOY_PROCESS_FRAME_IN_LENGTH) + (pb_get_param() == 7);
}

SEC("plugin/count")
__u64 count(void *ctx)
{
	__u32 k = 0;
	__u64 *n = bpf_map_lookup_elem(&seen, &k);
	if (n)
		*n += 1;
	k = 1;
	__u64 *last = bpf_map_lookup_elem(&seen, &k);
	if (last)
		*last = pb_get_param();
	return 0;
}
