/* encode: output = input bytes with bit 5 flipped (lower <-> upper case), up to 64 bytes. */
#include <pybpf/plugin.h>

SEC("plugin/encode")
__u64 encode(void *ctx)
{
	char buf[64] = {};
	long n = pb_get_input_bytes(0, buf, sizeof(buf));
	if (n < 0 || n > 64)
		return 0;
	for (int i = 0; i < 64; i++)
		buf[i] ^= 0x20;
	pb_set_output_bytes(0, buf, n & 63);
	return n;
}
