/* The small API functions: time, number of inputs, parameter, shared-memory removal.
 * hook(x): returns 1 if time moves forward, the block under key 5 is created, found, removed
 * and gone, and inputs/param are as expected; bit k of the result is check k. */
#include <pybpf/plugin.h>

SEC("plugin/hook")
__u64 hook(void *ctx)
{
	__u64 ok = 0;
	__u64 t0 = pb_time_ns();
	__u64 t1 = pb_time_ns();
	if (t1 >= t0 && t0 > 0)
		ok |= 1;
	if (pb_num_inputs() == 1 && pb_get_param() == PB_NO_PARAM)
		ok |= 2;
	__u64 *b = pb_shm_new(5, 16, 0);
	if (b && pb_shm_get(5, 16, 0) == b && !pb_shm_get(5, 17, 0))
		ok |= 4;
	if (pb_shm_remove(5, 0) == 0 && pb_shm_remove(5, 0) == -2 && !pb_shm_get(5, 1, 0))
		ok |= 8;
	return ok;
}
