/* An L2 learning switch for XDP.
 *
 * Every frame teaches the switch where its source MAC lives (the port it came in on); the
 * destination MAC then decides:
 *   - broadcast, multicast or unknown destination -> XDP_PASS, which a switch host floods
 *     to every other port (pybpf's `switch` command does exactly that);
 *   - known and on the ingress port -> XDP_DROP (the frame is already on its segment);
 *   - known elsewhere -> bpf_redirect_map(&tx_ports, port) -> XDP_REDIRECT to that port, falling
 *     back to flooding (XDP_PASS) if the port is not in `tx_ports`.
 * Ports are ifindexes.  Python fills `tx_ports` (ifindex -> ifindex) with the switch's ports and
 * may read or pre-load `mac_table`. */
#include "parse.h"

struct mac_key { __u8 addr[ETH_ALEN]; __u16 pad; };
struct mac_entry { __u32 port; __u32 pad; __u64 frames; };

enum { STAT_LEARNED = 0, STAT_MOVED, STAT_FLOODED, STAT_FORWARDED, STAT_FILTERED, N_STATS };

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct mac_key);
    __type(value, struct mac_entry);
} mac_table SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u32);
} tx_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, N_STATS);
    __type(key, __u32);
    __type(value, __u64);
} switch_stats SEC(".maps");

static __always_inline void count(__u32 what) {
    __u64 *n = bpf_map_lookup_elem(&switch_stats, &what);
    if (n)
        *n += 1;
}

static __always_inline void learn(const __u8 *src, __u32 port) {
    struct mac_key key = {};
    __builtin_memcpy(key.addr, src, ETH_ALEN);
    struct mac_entry *e = bpf_map_lookup_elem(&mac_table, &key);
    if (e) {
        if (e->port != port) {
            e->port = port;   /* the station moved */
            count(STAT_MOVED);
        }
        e->frames += 1;
        return;
    }
    struct mac_entry fresh = { .port = port, .frames = 1 };
    if (bpf_map_update_elem(&mac_table, &key, &fresh, BPF_NOEXIST) == 0)
        count(STAT_LEARNED);
}

SEC("xdp")
int l2_switch(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        return XDP_DROP;
    __u32 in_port = ctx->ingress_ifindex;
    if (!(eth->h_source[0] & 1))        /* never learn group addresses */
        learn(eth->h_source, in_port);
    if (eth->h_dest[0] & 1) {           /* broadcast or multicast */
        count(STAT_FLOODED);
        return XDP_PASS;
    }
    struct mac_key key = {};
    __builtin_memcpy(key.addr, eth->h_dest, ETH_ALEN);
    struct mac_entry *dst = bpf_map_lookup_elem(&mac_table, &key);
    if (!dst) {
        count(STAT_FLOODED);
        return XDP_PASS;
    }
    if (dst->port == in_port) {
        count(STAT_FILTERED);
        return XDP_DROP;
    }
    count(STAT_FORWARDED);
    return bpf_redirect_map(&tx_ports, dst->port, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
