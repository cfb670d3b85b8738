/* Uses every memory function.  hook(x):
 *   - a persistent counter in the plugin's shared store (key 1) counts invocations;
 *   - an array of x u64 (size unknown to the verifier) is filled with 1..x, grown with realloc,
 *     summed, freed;
 *   - a calloc'd and a scratch block are checked to be zero;
 *   - an endpoint-wide block (key 9) accumulates x across plugins and sessions.
 * Returns sum(1..x) + 1000 * count. */
#include <pybpf/plugin.h>

SEC("plugin/hook")
__u64 hook(void *ctx)
{
	__u64 x = pb_get_input(0) & 63;
	__u64 *count = pb_shm_get(1, 8, 0);
	if (!count)
		count = pb_shm_new(1, 8, 0);
	if (!count)
		return -1;
	*count += 1;

	__u64 *ep = pb_shm_get(9, 8, PB_SHM_ENDPOINT);
	if (!ep)
		ep = pb_shm_new(9, 8, PB_SHM_ENDPOINT);
	if (ep)
		*ep += x;

	__u64 *arr = pb_malloc(8 * x + 8);
	if (!arr)
		return -2;
	for (__u64 i = 0; i < x && i < 64; i++)
		arr[i] = i + 1;
	arr = pb_realloc(arr, 8 * x + 64);
	if (!arr)
		return -3;
	__u64 sum = 0;
	for (__u64 i = 0; i < x && i < 64; i++)
		sum += arr[i];
	pb_free(arr);

	__u64 *z = pb_calloc(4, 8);
	if (!z)
		return -4;
	if (z[0] | z[1] | z[2] | z[3])
		return -5;
	z[2] = 77;
	pb_free(z);

	__u64 *s = pb_scratch_alloc(32);
	if (!s)
		return -6;
	if (s[0] | s[3])
		return -7; /* the scratch area is wiped after every invocation */
	s[0] = 1;
	s[3] = 2;
	return sum + 1000 * *count;
}

/* Many small blocks: allocate x (<= 200) 24-byte blocks, free every other one, allocate
 * 48-byte ones, free everything.  Returns how many allocations succeeded. */
SEC("plugin/churn")
__u64 churn(void *ctx)
{
	__u64 ok = 0;
	__u64 n = pb_get_input(0);
	for (__u64 round = 0; round < n && round < 200; round++) {
		void *a = pb_malloc(24);
		void *b = pb_malloc(24);
		if (a && b)
			ok += 2;
		if (a)
			pb_free(a);
		void *c = pb_malloc(48);
		if (c) {
			ok++;
			pb_free(c);
		}
		if (b)
			pb_free(b);
	}
	return ok;
}
