/* Minimal packet parsing shared by the examples: Ethernet, one optional VLAN tag, IPv4/IPv6,
 * TCP/UDP ports.  Every access is bounds-checked against data_end, as the verifier requires. */
#pragma once
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct vlan_hdr {
    __be16 tci;
    __be16 proto;
};

struct packet {
    __u16 eth_proto;   /* host order, after any VLAN tag */
    __u8 vlan;         /* 1 if a VLAN tag was present */
    __u8 l4_proto;     /* IPPROTO_* or 0 */
    __u16 sport;       /* host order, 0 if not TCP/UDP */
    __u16 dport;
    void *l3;
    void *l4;
};

static __always_inline int parse_packet(void *data, void *data_end, struct packet *p) {
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        return -1;
    __u16 proto = bpf_ntohs(eth->h_proto);
    void *cursor = eth + 1;
    p->vlan = 0;
    if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
        struct vlan_hdr *vh = cursor;
        if ((void *)(vh + 1) > data_end)
            return -1;
        proto = bpf_ntohs(vh->proto);
        cursor = vh + 1;
        p->vlan = 1;
    }
    p->eth_proto = proto;
    p->l3 = cursor;
    p->l4 = 0;
    p->l4_proto = 0;
    p->sport = p->dport = 0;
    if (proto == ETH_P_IP) {
        struct iphdr *ip = cursor;
        if ((void *)(ip + 1) > data_end)
            return -1;
        if (ip->ihl < 5)
            return -1;
        p->l4_proto = ip->protocol;
        cursor = (void *)ip + ip->ihl * 4;
    } else if (proto == ETH_P_IPV6) {
        struct ipv6hdr *ip6 = cursor;
        if ((void *)(ip6 + 1) > data_end)
            return -1;
        p->l4_proto = ip6->nexthdr;
        cursor = ip6 + 1;
    } else {
        return 0;
    }
    p->l4 = cursor;
    if (p->l4_proto == IPPROTO_TCP) {
        struct tcphdr *tcp = cursor;
        if ((void *)(tcp + 1) > data_end)
            return -1;
        p->sport = bpf_ntohs(tcp->source);
        p->dport = bpf_ntohs(tcp->dest);
    } else if (p->l4_proto == IPPROTO_UDP) {
        struct udphdr *udp = cursor;
        if ((void *)(udp + 1) > data_end)
            return -1;
        p->sport = bpf_ntohs(udp->source);
        p->dport = bpf_ntohs(udp->dest);
    }
    return 0;
}
