/* CUBIC (RFC 9438) in integers: C = 0.4, beta = 0.7, fast convergence, Reno-friendly region.
 * A transcription of the Python reference IntegerCubic (pybpf/hosts/quic/plugins/cc.py): times
 * in ms inside the cubic function so (t - K)^3 stays inside 64 bits; K by integer cube root.
 * Slow start, recovery and the RTT-increase slow-start exit are NewReno's. */
#include "../cc_common.h"

struct cubic {
	struct reno reno;
	__u64 w_max;
	__u64 k_ms;
	__u64 epoch_start_us;
	__u64 w_est;
	__u64 rtt_us;
	__u64 cbrt_hi; /* 2^22: read from memory so the verifier does not track the bisection's bounds */
};

struct cubic st = {.rtt_us = 20000, .cbrt_hi = 1ULL << 22};

/* floor(cbrt(v)) by bisection over [0, 2^22] (23 steps at most).  The upper bound comes from a
 * global: with constant bounds the verifier would follow every path of the bisection separately
 * (2^23 states); with an unknown one the paths of each step are the same state and are pruned. */
static __always_inline __u64 icbrt(__u64 v)
{
	__u64 lo = 0, hi = st.cbrt_hi;
	for (int i = 0; i < 24 && lo < hi; i++) {
		__u64 mid = (lo + hi + 1) / 2;
		if (mid * mid * mid <= v)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* floor(n / d) for a signed n and a positive d, without signed division (eBPF < v4 has none). */
static __always_inline __s64 floor_div(__s64 n, __u64 d)
{
	if (n >= 0)
		return (__s64)((__u64)n / d);
	return -(__s64)(((__u64)(-n) + d - 1) / d);
}

SEC("plugin/cc_packet_sent")
__u64 packet_sent(void *ctx) { return cc_unchanged(); }

SEC("plugin/cc_packet_acked")
__u64 packet_acked(void *ctx)
{
	__u64 now = pb_get_input(IN_NOW), cwnd = pb_get_input(IN_CWND), ssthresh = pb_get_input(IN_SSTHRESH);
	__u64 mds = pb_get_input(IN_MDS);
	__u64 sent_bytes = pb_get_input(PQUIC_CC_PACKET_ACKED_IN_SENT_BYTES);
	__u64 sent_time = pb_get_input(PQUIC_CC_PACKET_ACKED_IN_SENT_TIME_US);

	if (sent_time <= st.reno.recovery_start_us)
		return cc_return(cwnd, ssthresh);
	if (cwnd < ssthresh)
		return cc_return(cwnd + sent_bytes, ssthresh);
	if (!cwnd || !mds)
		return cc_return(cwnd, ssthresh);
	if (st.epoch_start_us == 0) { /* first ACK of a congestion-avoidance epoch */
		st.epoch_start_us = now;
		st.w_est = cwnd;
		if (st.w_max < cwnd)
			st.w_max = cwnd;
		/* K^3 = (W_max - cwnd) / (C * mds) s^3 = (W_max - cwnd) * 10 * 1e9 / (4 * mds) ms^3 */
		st.k_ms = icbrt((st.w_max - cwnd) * 10 * 1000000000ULL / (4 * mds));
	}
	st.w_est += mds * sent_bytes / cwnd;
	__s64 t_ms = (__s64)((now - st.epoch_start_us + st.rtt_us) / 1000);
	__s64 d = t_ms - (__s64)st.k_ms;
	if (d < -100000)
		d = -100000;
	if (d > 100000)
		d = 100000;
	__s64 w_cubic = (__s64)st.w_max + floor_div(4 * (__s64)mds * d * d * d, 10 * 1000000000ULL);
	if (w_cubic < (__s64)st.w_est)
		return cc_return(st.w_est, ssthresh); /* Reno-friendly region */
	__u64 target = w_cubic > (__s64)cwnd ? (__u64)w_cubic : cwnd;
	if (target > cwnd * 3 / 2)
		target = cwnd * 3 / 2;
	return cc_return(cwnd + (target - cwnd) * mds / cwnd, ssthresh);
}

SEC("plugin/cc_packets_lost")
__u64 packets_lost(void *ctx)
{
	__u64 now = pb_get_input(IN_NOW), cwnd = pb_get_input(IN_CWND), ssthresh = pb_get_input(IN_SSTHRESH);
	__u64 bif = pb_get_input(IN_BYTES_IN_FLIGHT), mds = pb_get_input(IN_MDS);
	__u64 last_sent = pb_get_input(PQUIC_CC_PACKETS_LOST_IN_LAST_SENT_TIME_US);

	if (last_sent > st.reno.recovery_start_us) {
		st.reno.recovery_start_us = now;
		/* fast convergence: remember less than the window we reached if it shrank */
		st.w_max = cwnd < st.w_max ? cwnd * 17 / 20 : cwnd;
		ssthresh = bif * 7 / 10;
		if (ssthresh < MINIMUM_WINDOW_PACKETS * mds)
			ssthresh = MINIMUM_WINDOW_PACKETS * mds;
		cwnd = ssthresh;
		st.epoch_start_us = 0;
	}
	return cc_return(cwnd, ssthresh);
}

SEC("plugin/cc_packets_expired")
__u64 packets_expired(void *ctx) { return cc_unchanged(); }

SEC("plugin/cc_persistent_congestion")
__u64 persistent_congestion(void *ctx)
{
	st.epoch_start_us = 0;
	return reno_persistent(&st.reno);
}

SEC("plugin/cc_rtt_sample")
__u64 rtt_sample(void *ctx)
{
	st.rtt_us = pb_get_input(PQUIC_CC_RTT_SAMPLE_IN_RTT_US);
	return reno_rtt(&st.reno);
}
