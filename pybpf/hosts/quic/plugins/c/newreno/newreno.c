/* NewReno (RFC 9002) exactly as aioquic 1.7.2's RenoCongestionControl computes it, including its
 * slow-start exit on rising RTT: the same window after every congestion-control event. */
#include "../cc_common.h"

struct reno st = {};

SEC("plugin/cc_packet_sent")
__u64 packet_sent(void *ctx) { return cc_unchanged(); }

SEC("plugin/cc_packet_acked")
__u64 packet_acked(void *ctx) { return reno_acked(&st); }

SEC("plugin/cc_packets_lost")
__u64 packets_lost(void *ctx) { return reno_lost(&st); }

SEC("plugin/cc_packets_expired")
__u64 packets_expired(void *ctx) { return cc_unchanged(); }

SEC("plugin/cc_persistent_congestion")
__u64 persistent_congestion(void *ctx) { return reno_persistent(&st); }

SEC("plugin/cc_rtt_sample")
__u64 rtt_sample(void *ctx) { return reno_rtt(&st); }
