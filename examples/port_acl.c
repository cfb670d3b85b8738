/* A port-based ACL for XDP: rules keyed by ingress port (ifindex), IP protocol and destination
 * port decide whether a frame passes.  For each TCP/UDP/ICMP packet the most specific rule wins:
 *   (ingress port, proto, dport) > (ingress port, proto, any dport)
 *   > (any port, proto, dport) > (any port, proto, any dport);
 * port and dport 0 mean "any" (ICMP has no dport: its rules use 0).  Without a matching rule the
 * load-time policy `default_deny` decides.  Non-IP frames (ARP, ...) always pass.  Each rule
 * counts its hits; `verdicts` counts passes and drops. */
#include "parse.h"

struct acl_key { __u32 ifindex; __u8 proto; __u8 pad; __u16 dport; };
struct acl_rule { __u32 action; __u32 pad; __u64 hits; };   /* action: 0 allow, 1 deny */

const volatile __u32 default_deny = 0;

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, struct acl_key);
    __type(value, struct acl_rule);
} acl SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);          /* 0: passed, 1: dropped */
    __type(key, __u32);
    __type(value, __u64);
} verdicts SEC(".maps");

static __always_inline int verdict(int action) {
    __u32 idx = action == XDP_PASS ? 0 : 1;
    __u64 *n = bpf_map_lookup_elem(&verdicts, &idx);
    if (n)
        *n += 1;
    return action;
}

static __always_inline struct acl_rule *match(__u32 ifindex, __u8 proto, __u16 dport) {
    struct acl_key key = { .ifindex = ifindex, .proto = proto, .dport = dport };
    struct acl_rule *rule = bpf_map_lookup_elem(&acl, &key);
    if (rule)
        return rule;
    key.dport = 0;
    rule = bpf_map_lookup_elem(&acl, &key);
    if (rule)
        return rule;
    key.ifindex = 0;
    key.dport = dport;
    rule = bpf_map_lookup_elem(&acl, &key);
    if (rule)
        return rule;
    key.dport = 0;
    return bpf_map_lookup_elem(&acl, &key);
}

SEC("xdp")
int port_acl(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct packet p;
    if (parse_packet(data, data_end, &p) < 0)
        return verdict(XDP_DROP);
    if (p.eth_proto != ETH_P_IP && p.eth_proto != ETH_P_IPV6)
        return verdict(XDP_PASS);
    struct acl_rule *rule = match(ctx->ingress_ifindex, p.l4_proto, p.dport);
    if (!rule)
        return verdict(default_deny ? XDP_DROP : XDP_PASS);
    __sync_fetch_and_add(&rule->hits, 1);
    return verdict(rule->action ? XDP_DROP : XDP_PASS);
}

char _license[] SEC("license") = "GPL";
