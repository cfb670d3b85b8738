/* Monitoring: post observers of every cc_* operation.  Each event appends records to the ring
 * `records` (slot n % RING) and bumps head[0], the number of records written; Python reads them
 * while the connection runs (pybpf.hosts.quic.plugin_host.MonitorReader).  The records are those
 * of the Python reference monitor: cwnd when it changed, bytes in flight at every event, RTT
 * samples, cumulative lost packets. */
#include <pybpf/plugin.h>
#include "../../../include/pquic.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define RING 65536
#define KIND_CWND 1
#define KIND_BYTES_IN_FLIGHT 2
#define KIND_RTT 3
#define KIND_LOSSES 4

struct record {
	__u64 time_us;
	__u64 value;
	__u32 kind;
	__u32 pad;
};

struct {
	__uint(type, 2); /* BPF_MAP_TYPE_ARRAY */
	__uint(max_entries, RING);
	__type(key, __u32);
	__type(value, struct record);
} records SEC(".maps");

struct {
	__uint(type, 2);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} head SEC(".maps");

struct state {
	__u64 have_cwnd;
	__u64 last_cwnd;
	__u64 lost_total;
};

struct state st = {};

static __always_inline void emit(__u64 *h, __u64 time_us, __u64 value, __u32 kind)
{
	struct record r = {.time_us = time_us, .value = value, .kind = kind, .pad = 0};
	__u32 slot = (__u32)(*h % RING);
	bpf_map_update_elem(&records, &slot, &r, 0);
	*h += 1;
}

/* kind_extra: 0 none, KIND_RTT: input 5 is an RTT sample, KIND_LOSSES: input 5 a lost count. */
static __always_inline __u64 observe(__u32 extra)
{
	__u32 zero = 0;
	__u64 *h = bpf_map_lookup_elem(&head, &zero);
	if (!h)
		return 0;
	__u64 now = pb_get_input(0);
	__u64 cwnd = pb_get_result();
	if (!st.have_cwnd || st.last_cwnd != cwnd) {
		st.have_cwnd = 1;
		st.last_cwnd = cwnd;
		emit(h, now, cwnd, KIND_CWND);
	}
	emit(h, now, pb_get_input(3), KIND_BYTES_IN_FLIGHT);
	if (extra == KIND_RTT) {
		emit(h, now, pb_get_input(5), KIND_RTT);
	} else if (extra == KIND_LOSSES) {
		st.lost_total += pb_get_input(5);
		emit(h, now, st.lost_total, KIND_LOSSES);
	}
	return 0;
}

SEC("plugin/cc_packet_sent")
__u64 packet_sent(void *ctx) { return observe(0); }

SEC("plugin/cc_packet_acked")
__u64 packet_acked(void *ctx) { return observe(0); }

SEC("plugin/cc_packets_lost")
__u64 packets_lost(void *ctx) { return observe(KIND_LOSSES); }

SEC("plugin/cc_packets_expired")
__u64 packets_expired(void *ctx) { return observe(0); }

SEC("plugin/cc_persistent_congestion")
__u64 persistent_congestion(void *ctx) { return observe(0); }

SEC("plugin/cc_rtt_sample")
__u64 rtt_sample(void *ctx) { return observe(KIND_RTT); }
