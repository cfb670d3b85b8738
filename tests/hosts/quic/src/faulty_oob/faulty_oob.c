/* At its 40th call: writes one byte past a heap block (the verifier cannot know the block's
 * size, so the run-time check catches it: heap_overflow). */
#include "../faulty.h"

SEC("plugin/cc_packet_acked")
__u64 packet_acked(void *ctx)
{
	calls += 1;
	if (calls == FAULT_AT) {
		__u64 n = pb_get_input(PQUIC_CC_PACKET_ACKED_IN_SENT_BYTES) & 63;
		volatile __u8 *p = pb_malloc(n + 1);
		if (p)
			p[n + 16] = 1;
	}
	return pb_next();
}
