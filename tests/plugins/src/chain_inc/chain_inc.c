/* compute, replace at sequence 5: one more than the rest of the chain (the default: a + b). */
#include <pybpf/plugin.h>

SEC("plugin/compute")
__u64 compute(void *ctx)
{
	return pb_next() + 1;
}
