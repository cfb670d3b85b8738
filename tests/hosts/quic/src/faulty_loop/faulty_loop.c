/* At its 40th call: a loop far longer than the plugin's instruction budget (the eBPF stand-in
 * for an infinite loop, which the verifier would refuse at insertion). */
#include "../faulty.h"

__u64 sink = 0;

SEC("plugin/cc_packet_acked")
__u64 packet_acked(void *ctx)
{
	__u64 sum = 0;
	calls += 1;
	if (calls == FAULT_AT) {
		for (int i = 0; i < 2000; i++)
			sum += pb_get_input(0) + i;
	}
	sink = sum;
	return pb_next();
}
