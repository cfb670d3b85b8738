/* Shared by the bundled congestion controllers: inputs, outputs and aioquic's RTT monitor.
 *
 * Every cc_* operation's inputs start with now_us, cwnd, ssthresh, bytes_in_flight,
 * max_datagram_size (indexes 0-4, the same in every cc_* operation), and its outputs are
 * (cwnd, ssthresh).  A replacement sets both outputs and returns the new cwnd (what the
 * monitor's post observers read with pb_get_result()). */
#ifndef PQUIC_CC_COMMON_H
#define PQUIC_CC_COMMON_H

#include <pybpf/plugin.h>
#include "../../../include/pquic.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define IN_NOW 0
#define IN_CWND 1
#define IN_SSTHRESH 2
#define IN_BYTES_IN_FLIGHT 3
#define IN_MDS 4

#define GRANULARITY_US 1000
#define MINIMUM_WINDOW_PACKETS 2
#define RTT_SIZE 5

static __always_inline __u64 cc_return(__u64 cwnd, __u64 ssthresh)
{
	pb_set_output(0, cwnd);
	pb_set_output(1, ssthresh);
	return cwnd;
}

/* aioquic's QuicRttMonitor (slow-start exit when the RTT keeps rising), in integer us. */
struct rtt_monitor {
	__u64 increases;
	__u64 ready;
	__u64 filtered_min; /* 0 = unset */
	__u64 sample_idx;
	__u64 sample_max;
	__u64 sample_min;
	__u64 sample_time_us;
	__u64 samples[RTT_SIZE];
};

static __always_inline void rtt_add(struct rtt_monitor *m, __u64 rtt_us)
{
	__u64 i = m->sample_idx;
	if (i < RTT_SIZE)
		m->samples[i] = rtt_us;
	i += 1;
	if (i >= RTT_SIZE) {
		i = 0;
		m->ready = 1;
	}
	m->sample_idx = i;
	if (m->ready) {
		__u64 lo = m->samples[0], hi = m->samples[0];
		for (int k = 1; k < RTT_SIZE; k++) {
			__u64 s = m->samples[k];
			if (s < lo)
				lo = s;
			else if (s > hi)
				hi = s;
		}
		m->sample_min = lo;
		m->sample_max = hi;
	}
}

static __always_inline int rtt_increasing(struct rtt_monitor *m, __u64 now_us, __u64 rtt_us)
{
	if (now_us > m->sample_time_us + GRANULARITY_US) {
		rtt_add(m, rtt_us);
		m->sample_time_us = now_us;
		if (m->ready) {
			if (m->filtered_min == 0 || m->filtered_min > m->sample_max)
				m->filtered_min = m->sample_max;
			__s64 delta = (__s64)m->sample_min - (__s64)m->filtered_min;
			if (delta * 4 >= (__s64)m->filtered_min) {
				m->increases += 1;
				if (m->increases >= RTT_SIZE)
					return 1;
			} else if (delta > 0) {
				m->increases = 0;
			}
		}
	}
	return 0;
}

/* NewReno's state and events, shared by the controllers that grow like NewReno. */
struct reno {
	__u64 recovery_start_us;
	__u64 stash;
	struct rtt_monitor rtt;
};

static __always_inline __u64 reno_acked(struct reno *r)
{
	__u64 cwnd = pb_get_input(IN_CWND), ssthresh = pb_get_input(IN_SSTHRESH);
	__u64 mds = pb_get_input(IN_MDS);
	__u64 sent_bytes = pb_get_input(PQUIC_CC_PACKET_ACKED_IN_SENT_BYTES);
	__u64 sent_time = pb_get_input(PQUIC_CC_PACKET_ACKED_IN_SENT_TIME_US);

	if (sent_time <= r->recovery_start_us)
		return cc_return(cwnd, ssthresh); /* no growth during recovery */
	if (cwnd < ssthresh)
		return cc_return(cwnd + sent_bytes, ssthresh); /* slow start */
	r->stash += sent_bytes; /* congestion avoidance: one datagram per window acked */
	if (cwnd) {
		__u64 count = r->stash / cwnd;
		if (count) {
			r->stash -= count * cwnd;
			cwnd += count * mds;
		}
	}
	return cc_return(cwnd, ssthresh);
}

static __always_inline __u64 reno_lost(struct reno *r)
{
	__u64 now = pb_get_input(IN_NOW), cwnd = pb_get_input(IN_CWND), ssthresh = pb_get_input(IN_SSTHRESH);
	__u64 mds = pb_get_input(IN_MDS);
	__u64 last_sent = pb_get_input(PQUIC_CC_PACKETS_LOST_IN_LAST_SENT_TIME_US);

	if (last_sent > r->recovery_start_us) { /* a new congestion event */
		r->recovery_start_us = now;
		cwnd = cwnd / 2;
		if (cwnd < MINIMUM_WINDOW_PACKETS * mds)
			cwnd = MINIMUM_WINDOW_PACKETS * mds;
		ssthresh = cwnd;
	}
	return cc_return(cwnd, ssthresh);
}

static __always_inline __u64 cc_unchanged(void)
{
	return cc_return(pb_get_input(IN_CWND), pb_get_input(IN_SSTHRESH));
}

static __always_inline __u64 reno_persistent(struct reno *r)
{
	r->recovery_start_us = 0;
	return cc_return(MINIMUM_WINDOW_PACKETS * pb_get_input(IN_MDS), pb_get_input(IN_SSTHRESH));
}

static __always_inline __u64 reno_rtt(struct reno *r)
{
	__u64 now = pb_get_input(IN_NOW), cwnd = pb_get_input(IN_CWND), ssthresh = pb_get_input(IN_SSTHRESH);
	__u64 rtt = pb_get_input(PQUIC_CC_RTT_SAMPLE_IN_RTT_US);

	if (ssthresh == PQUIC_SSTHRESH_INFINITE && rtt_increasing(&r->rtt, now, rtt))
		ssthresh = cwnd;
	return cc_return(cwnd, ssthresh);
}

#endif /* PQUIC_CC_COMMON_H */
