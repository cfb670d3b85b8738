/* compute, replace at sequence 0: twice what the rest of the chain gives. */
#include <pybpf/plugin.h>

SEC("plugin/compute")
__u64 compute(void *ctx)
{
	return 2 * pb_next();
}
