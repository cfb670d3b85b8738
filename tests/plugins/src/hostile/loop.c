/* Rejected at load: a loop with no exit (its own object: the loader refuses the whole file). */
#include <pybpf/plugin.h>

SEC("h/infinite_loop")
__u64 infinite_loop(void *ctx)
{
	volatile __u64 x = 0;
	for (;;)
		x++;
	return 0;
}
