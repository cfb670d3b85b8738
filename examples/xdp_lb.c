/* An IPv4 layer-4 load balancer: packets to the virtual IP and port are sent back out (XDP_TX)
 * to a backend picked by a hash of the flow, with the destination MAC and IP rewritten and the
 * IPv4 and TCP/UDP checksums updated incrementally (RFC 1624). */
#include "parse.h"

struct backend { __u8 mac[6]; __u16 pad; __be32 ip; };

const volatile __be32 vip = 0;          /* set from Python before load, network order */
const volatile __u16 vport = 80;        /* host order */
const volatile __u32 n_backends = 1;

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 16);
    __type(key, __u32);
    __type(value, struct backend);
} backends SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 16);
    __type(key, __u32);
    __type(value, __u64);
} forwarded SEC(".maps");

static __always_inline __u16 csum_fold(__u32 sum) {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (__u16)~sum;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for a 32-bit field change. */
static __always_inline __u16 csum_replace4(__u16 check, __be32 from, __be32 to) {
    __u32 sum = (__u16)~check;
    sum += (__u16)~(from & 0xffff) + (__u16)~(from >> 16);
    sum += (to & 0xffff) + (to >> 16);
    return csum_fold(sum);
}

SEC("xdp")
int balance(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct packet p;
    if (parse_packet(data, data_end, &p) < 0 || p.eth_proto != ETH_P_IP || p.vlan)
        return XDP_PASS;
    struct iphdr *ip = p.l3;
    if ((void *)(ip + 1) > data_end || ip->daddr != vip || p.dport != vport)
        return XDP_PASS;
    if (p.l4_proto != IPPROTO_TCP && p.l4_proto != IPPROTO_UDP)
        return XDP_PASS;
    __u32 hash = ip->saddr ^ ((__u32)p.sport << 16) ^ p.l4_proto;
    hash ^= hash >> 16;
    __u32 n = n_backends ? n_backends : 1;
    __u32 index = hash % n;
    struct backend *be = bpf_map_lookup_elem(&backends, &index);
    if (!be || !be->ip)
        return XDP_ABORTED;
    struct ethhdr *eth = data;
    __builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
    __builtin_memcpy(eth->h_dest, be->mac, ETH_ALEN);
    __be32 old = ip->daddr;
    ip->daddr = be->ip;
    ip->check = csum_replace4(ip->check, old, be->ip);
    if (p.l4_proto == IPPROTO_TCP) {
        struct tcphdr *tcp = p.l4;
        if ((void *)(tcp + 1) > data_end)
            return XDP_ABORTED;
        tcp->check = csum_replace4(tcp->check, old, be->ip);
    } else {
        struct udphdr *udp = p.l4;
        if ((void *)(udp + 1) > data_end)
            return XDP_ABORTED;
        if (udp->check)
            udp->check = csum_replace4(udp->check, old, be->ip);
    }
    __u64 *count = bpf_map_lookup_elem(&forwarded, &index);
    if (count)
        *count += 1;
    return XDP_TX;
}

char _license[] SEC("license") = "GPL";
