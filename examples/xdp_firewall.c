/* Drop TCP and UDP packets whose destination port is in the `blocked_ports` map (set from
 * Python), IPv4 and IPv6 alike; count what was dropped per port. */
#include "parse.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u16);       /* destination port, host order */
    __type(value, __u64);     /* packets dropped */
} blocked_ports SEC(".maps");

SEC("xdp")
int firewall(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct packet p;
    if (parse_packet(data, data_end, &p) < 0)
        return XDP_DROP;                      /* malformed headers never pass */
    if (p.l4_proto != IPPROTO_TCP && p.l4_proto != IPPROTO_UDP)
        return XDP_PASS;
    __u16 port = p.dport;
    __u64 *dropped = bpf_map_lookup_elem(&blocked_ports, &port);
    if (!dropped)
        return XDP_PASS;
    __sync_fetch_and_add(dropped, 1);
    return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
