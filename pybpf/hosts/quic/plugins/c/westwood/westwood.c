/* Westwood+-like: after a loss, ssthresh = estimated bandwidth x minimum RTT.  The estimate is
 * acked bytes per sampling interval (at least one minimum RTT and 10 ms), smoothed with a 3/4
 * EWMA.  Growth is NewReno's.  A transcription of the Python reference Westwood. */
#include "../cc_common.h"

#define MIN_INTERVAL_US 10000

struct westwood {
	struct reno reno;
	__u64 bwe; /* bytes per second */
	__u64 acked;
	__u64 sample_start_us;
	__u64 min_rtt_us;
};

struct westwood st = {};

SEC("plugin/cc_packet_sent")
__u64 packet_sent(void *ctx) { return cc_unchanged(); }

SEC("plugin/cc_packet_acked")
__u64 packet_acked(void *ctx)
{
	__u64 now = pb_get_input(IN_NOW);
	st.acked += pb_get_input(PQUIC_CC_PACKET_ACKED_IN_SENT_BYTES);
	if (st.sample_start_us == 0)
		st.sample_start_us = now;
	__u64 interval = st.min_rtt_us > MIN_INTERVAL_US ? st.min_rtt_us : MIN_INTERVAL_US;
	__u64 elapsed = now - st.sample_start_us;
	if (elapsed >= interval && elapsed) {
		__u64 sample = st.acked * 1000000 / elapsed;
		st.bwe = st.bwe == 0 ? sample : (3 * st.bwe + sample) / 4;
		st.acked = 0;
		st.sample_start_us = now;
	}
	return reno_acked(&st.reno);
}

SEC("plugin/cc_packets_lost")
__u64 packets_lost(void *ctx)
{
	__u64 now = pb_get_input(IN_NOW), cwnd = pb_get_input(IN_CWND), ssthresh = pb_get_input(IN_SSTHRESH);
	__u64 mds = pb_get_input(IN_MDS);
	__u64 last_sent = pb_get_input(PQUIC_CC_PACKETS_LOST_IN_LAST_SENT_TIME_US);

	if (last_sent > st.reno.recovery_start_us) {
		st.reno.recovery_start_us = now;
		__u64 estimate = st.bwe * st.min_rtt_us / 1000000;
		if (estimate)
			ssthresh = estimate > MINIMUM_WINDOW_PACKETS * mds ? estimate : MINIMUM_WINDOW_PACKETS * mds;
		else
			ssthresh = cwnd / 2 > 2 * mds ? cwnd / 2 : 2 * mds;
		if (cwnd > ssthresh)
			cwnd = ssthresh;
	}
	return cc_return(cwnd, ssthresh);
}

SEC("plugin/cc_packets_expired")
__u64 packets_expired(void *ctx) { return cc_unchanged(); }

SEC("plugin/cc_persistent_congestion")
__u64 persistent_congestion(void *ctx) { return reno_persistent(&st.reno); }

SEC("plugin/cc_rtt_sample")
__u64 rtt_sample(void *ctx)
{
	__u64 rtt = pb_get_input(PQUIC_CC_RTT_SAMPLE_IN_RTT_US);
	if (st.min_rtt_us == 0 || rtt < st.min_rtt_us)
		st.min_rtt_us = rtt;
	return reno_rtt(&st.reno);
}
