/* A packet parser over a batch of packets, written the way XDP programs parse: Ethernet (with
 * up to two VLAN tags), IPv4 (options, fragments) and IPv6 (hop-by-hop, routing, destination
 * options extension headers), then TCP or UDP ports; every header is bounds-checked against the
 * packet's end.  Per-protocol counters go to in->stats and the return value is a hash of every
 * flow's 5-tuple.  Input: struct parser_in (packets laid out by the harness). */
#include "shim.h"
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/in.h>

#define PARSER_PACKETS 1024
#define PARSER_DATA (PARSER_PACKETS * 256)

struct packet_desc {
    u32 off;
    u32 len;
};

struct parser_stats {
    u64 packets, vlan, ipv4, ipv6, tcp, udp, fragments, other, malformed, l4_bytes;
};

struct parser_in {
    u32 count;
    u32 pad;
    struct parser_stats stats;
    struct packet_desc desc[PARSER_PACKETS];
    u8 data[PARSER_DATA];
};

struct vlan_tag {
    u16 tci;
    u16 proto;
};

static __always_inline u32 mix(u32 h, u32 v) {
    h ^= v;
    h *= 0x01000193;
    return h ^ (h >> 15);
}

BENCH(parse_packets)(struct parser_in *in) {
    struct parser_stats *st = &in->stats;
    u32 n = in->count, flows = 0x811C9DC5;
    if (n > PARSER_PACKETS)
        n = PARSER_PACKETS;
    for (u32 i = 0; i < n; i++) {
        u32 off = in->desc[i].off, len = in->desc[i].len;
        if (off > PARSER_DATA || len > PARSER_DATA - off) {
            st->malformed++;
            continue;
        }
        u8 *p = in->data + off;
        u8 *end = p + len;
        st->packets++;
        struct ethhdr *eth = (struct ethhdr *)p;
        if ((u8 *)(eth + 1) > end) {
            st->malformed++;
            continue;
        }
        u16 proto = eth->h_proto;
        p = (u8 *)(eth + 1);
        for (int t = 0; t < 2; t++) {
            if (proto != BSWAP16(ETH_P_8021Q) && proto != BSWAP16(ETH_P_8021AD))
                break;
            struct vlan_tag *tag = (struct vlan_tag *)p;
            if ((u8 *)(tag + 1) > end)
                goto malformed;
            st->vlan++;
            proto = tag->proto;
            p = (u8 *)(tag + 1);
        }
        u32 src = 0, dst = 0;
        u8 l4 = 0;
        if (proto == BSWAP16(ETH_P_IP)) {
            struct iphdr *ip = (struct iphdr *)p;
            if ((u8 *)(ip + 1) > end)
                goto malformed;
            u32 ihl = ip->ihl * 4;
            if (ihl < sizeof(*ip) || p + ihl > end)
                goto malformed;
            st->ipv4++;
            src = ip->saddr;
            dst = ip->daddr;
            l4 = ip->protocol;
            if (ip->frag_off & BSWAP16(0x1FFF)) {
                st->fragments++;
                flows = mix(flows, src ^ dst ^ l4);
                continue;
            }
            p += ihl;
        } else if (proto == BSWAP16(ETH_P_IPV6)) {
            struct ipv6hdr *ip6 = (struct ipv6hdr *)p;
            if ((u8 *)(ip6 + 1) > end)
                goto malformed;
            st->ipv6++;
            for (int w = 0; w < 4; w++) {
                src ^= ip6->saddr.in6_u.u6_addr32[w];
                dst ^= ip6->daddr.in6_u.u6_addr32[w];
            }
            l4 = ip6->nexthdr;
            p = (u8 *)(ip6 + 1);
            for (int x = 0; x < 4; x++) {
                if (l4 != IPPROTO_HOPOPTS && l4 != IPPROTO_ROUTING && l4 != IPPROTO_DSTOPTS)
                    break;
                if (p + 8 > end)
                    goto malformed;
                l4 = p[0];
                p += (p[1] + 1) * 8;
            }
        } else {
            st->other++;
            continue;
        }
        u32 ports = 0;
        if (l4 == IPPROTO_TCP) {
            struct tcphdr *tcp = (struct tcphdr *)p;
            if ((u8 *)(tcp + 1) > end)
                goto malformed;
            u32 doff = tcp->doff * 4;
            if (doff < sizeof(*tcp) || p + doff > end)
                goto malformed;
            st->tcp++;
            ports = ((u32)tcp->source << 16) | tcp->dest;
            st->l4_bytes += end - (p + doff);
        } else if (l4 == IPPROTO_UDP) {
            struct udphdr *udp = (struct udphdr *)p;
            if ((u8 *)(udp + 1) > end)
                goto malformed;
            st->udp++;
            ports = ((u32)udp->source << 16) | udp->dest;
            st->l4_bytes += end - (p + sizeof(*udp));
        } else {
            st->other++;
        }
        flows = mix(mix(mix(flows, src), dst), ports ^ l4);
        continue;
    malformed:
        st->malformed++;
    }
    return (int)flows;
}
