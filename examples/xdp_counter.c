/* Count packets and bytes per protocol class; pass everything.
 * Python reads the counters from the `stats` map while or after the program runs. */
#include "parse.h"

enum proto_class { OTHER = 0, IPV4_TCP, IPV4_UDP, IPV4_ICMP, IPV4_OTHER, IPV6_TCP, IPV6_UDP, IPV6_ICMP,
                   IPV6_OTHER, ARP, VLAN_TAGGED, MALFORMED, N_CLASSES };

struct counter { __u64 packets; __u64 bytes; };

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, N_CLASSES);
    __type(key, __u32);
    __type(value, struct counter);
} stats SEC(".maps");

static __always_inline void bump(__u32 cls, __u64 len) {
    struct counter *c = bpf_map_lookup_elem(&stats, &cls);
    if (c) {
        c->packets += 1;
        c->bytes += len;
    }
}

SEC("xdp")
int count_packets(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u64 len = data_end - data;
    struct packet p;
    __u32 cls = OTHER;
    if (parse_packet(data, data_end, &p) < 0) {
        bump(MALFORMED, len);
        return XDP_PASS;
    }
    if (p.vlan)
        bump(VLAN_TAGGED, len);
    if (p.eth_proto == ETH_P_IP)
        cls = p.l4_proto == IPPROTO_TCP ? IPV4_TCP : p.l4_proto == IPPROTO_UDP ? IPV4_UDP
            : p.l4_proto == IPPROTO_ICMP ? IPV4_ICMP : IPV4_OTHER;
    else if (p.eth_proto == ETH_P_IPV6)
        cls = p.l4_proto == IPPROTO_TCP ? IPV6_TCP : p.l4_proto == IPPROTO_UDP ? IPV6_UDP
            : p.l4_proto == IPPROTO_ICMPV6 ? IPV6_ICMP : IPV6_OTHER;
    else if (p.eth_proto == ETH_P_ARP)
        cls = ARP;
    bump(cls, len);
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
