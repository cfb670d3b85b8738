/* An XDP-style filter for the batch benchmark (bench/batch.py): drop DNS over UDP to port 53 and
 * TCP to port 23 (telnet), drop malformed frames, pass the rest.  The context carries the packet
 * bounds as 64-bit pointers, the way pybpf's shadow slots carry xdp_md's data/data_end; the
 * batch runner rebuilds it natively for every packet.  Returns 1 (XDP_DROP) or 2 (XDP_PASS). */
#include "shim.h"
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#define DROP 1
#define PASS 2

struct packet_ctx {
    u64 data;
    u64 data_end;
};

BENCH(filter)(struct packet_ctx *ctx) {
    u8 *data = (u8 *)(unsigned long)ctx->data;
    u8 *end = (u8 *)(unsigned long)ctx->data_end;
    struct ethhdr *eth = (struct ethhdr *)data;
    if ((u8 *)(eth + 1) > end)
        return DROP;
    if (eth->h_proto != BSWAP16(ETH_P_IP))
        return PASS;
    struct iphdr *ip = (struct iphdr *)(eth + 1);
    if ((u8 *)(ip + 1) > end)
        return DROP;
    u8 *l4 = (u8 *)ip + ip->ihl * 4;
    if (ip->protocol == IPPROTO_UDP) {
        struct udphdr *udp = (struct udphdr *)l4;
        if ((u8 *)(udp + 1) > end)
            return DROP;
        return udp->dest == BSWAP16(53) ? DROP : PASS;
    }
    if (ip->protocol == IPPROTO_TCP) {
        struct tcphdr *tcp = (struct tcphdr *)l4;
        if ((u8 *)(tcp + 1) > end)
            return DROP;
        return tcp->dest == BSWAP16(23) ? DROP : PASS;
    }
    return PASS;
}
