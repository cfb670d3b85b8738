/* Programs that call every packet helper with arguments taken from the packet, so a test can
 * drive each helper through its edge cases and compare pybpf with the kernel's test run.
 * The control block sits in the Ethernet source address (bytes 6..11), which leaves the
 * EtherType and the payload real:  op = [6], delta = s16 [7..8] (little endian), arg = [9..11]. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u32);
} tx_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u32);
} jumps SEC(".maps");

struct control { __u8 op; __s16 delta; __u32 arg; };

static __always_inline int control(void *data, void *end, struct control *c) {
    __u8 *p = data;
    if ((void *)(p + 14) > end)
        return -1;
    c->op = p[6];
    c->delta = (__s16)(p[7] | (p[8] << 8));
    c->arg = p[9] | (p[10] << 8) | (p[11] << 16);
    return 0;
}

SEC("xdp")
int xdp_ops(struct xdp_md *ctx) {
    struct control c;
    if (control((void *)(long)ctx->data, (void *)(long)ctx->data_end, &c) < 0)
        return 1000;
    long rc;
    switch (c.op) {
    case 1:
        rc = bpf_xdp_adjust_head(ctx, c.delta);
        break;
    case 2:
        rc = bpf_xdp_adjust_meta(ctx, c.delta);
        if (rc == 0) {
            void *meta = (void *)(long)ctx->data_meta;
            void *data = (void *)(long)ctx->data;
            if (meta + 4 <= data)
                *(__u32 *)meta = 0xfeedc0de;
        }
        break;
    case 3:
        rc = bpf_xdp_adjust_tail(ctx, c.delta);
        break;
    case 4:
        rc = bpf_redirect(c.delta, c.arg);
        break;
    case 5:
        rc = bpf_redirect_map(&tx_ports, c.delta, c.arg);
        break;
    case 6:
        rc = ctx->ingress_ifindex * 1000 + ctx->rx_queue_index;
        break;
    case 7: {  /* head then tail: both bounds move */
        rc = bpf_xdp_adjust_head(ctx, c.delta);
        if (rc == 0)
            rc = bpf_xdp_adjust_tail(ctx, (int)c.arg - 128);
        break;
    }
    case 8:    /* any return value, known action or not */
        rc = c.arg;
        break;
    default:
        rc = 2;
    }
    return (__u32)rc;
}

SEC("tc")
int tc_ops(struct __sk_buff *skb) {
    struct control c;
    if (control((void *)(long)skb->data, (void *)(long)skb->data_end, &c) < 0)
        return 1000;
    __u8 buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    long rc;
    switch (c.op) {
    case 1:
        rc = bpf_skb_store_bytes(skb, c.delta, buf, 4, c.arg);
        break;
    case 2:
        rc = bpf_skb_load_bytes(skb, c.delta, buf, 8);
        if (bpf_skb_store_bytes(skb, 0, buf, 6, 0))
            rc = 99;
        break;
    case 3:
        rc = bpf_l3_csum_replace(skb, c.delta, 0x1234, 0xabcd5678, c.arg);
        break;
    case 4:
        rc = bpf_l4_csum_replace(skb, c.delta, 0x12345678, 0xabcd, c.arg);
        break;
    case 5:
        rc = bpf_skb_change_tail(skb, (__u16)c.delta, c.arg);
        break;
    case 6:
        rc = bpf_skb_adjust_room(skb, c.delta, c.arg & 1, c.arg >> 1);
        break;
    case 7:
        rc = bpf_redirect(c.delta, c.arg);
        break;
    case 8:
        skb->mark = c.arg;
        skb->priority = c.delta;
        skb->cb[0] = 0xabcdef;
        skb->tc_index = 7;
        rc = skb->len + (skb->protocol << 16);
        break;
    case 9:
        rc = skb->pkt_type | (skb->ifindex << 4) | (skb->ingress_ifindex << 12) | ((__u64)skb->wire_len << 20);
        break;
    case 10:
        rc = skb->mark ^ skb->priority ^ skb->cb[1] ^ skb->gso_segs ^ skb->gso_size ^ skb->tstamp;
        break;
    case 11:
        rc = bpf_l3_csum_replace(skb, c.delta, 0x1234, 0xabcd, 2 | (c.arg & ~0xf));
        break;
    case 12: {
        __u32 words[2] = {0x01020304, 0x05060708};
        __s64 diff = bpf_csum_diff(0, 0, words, 8, 0);
        rc = bpf_l4_csum_replace(skb, c.delta, 0, diff, c.arg);
        break;
    }
    default:
        rc = TC_ACT_OK;
    }
    return (__u32)rc;
}

/* A tail call into xdp_tail_target (slot 0 of `jumps`, set from Python) with the same context. */
SEC("xdp")
int xdp_tail(struct xdp_md *ctx) {
    bpf_tail_call(ctx, &jumps, 0);
    return XDP_ABORTED;
}

SEC("xdp")
int xdp_tail_target(struct xdp_md *ctx) {
    if (bpf_xdp_adjust_head(ctx, 6))
        return XDP_DROP;
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    if (data + 1 > end)
        return XDP_DROP;
    *(__u8 *)data = 0xee;
    return XDP_TX;
}

/* Reads the byte before the packet: the verifier refuses it; unverified, it must fault. */
SEC("xdp")
int xdp_oob(struct xdp_md *ctx) {
    volatile __u8 *data = (void *)(long)ctx->data;
    return data[-1];
}

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

SEC("socket")
int sock_ops(struct __sk_buff *skb) {
    __u8 buf[4] = {};
    __u32 op = load_byte(skb, 0) & 3;
    if (op == 0)
        return skb->len;
    if (op == 1)
        return load_word(skb, 12) ^ load_half(skb, skb->len - 2);
    if (op == 2)
        return bpf_skb_load_bytes(skb, skb->len - 2, buf, 4) + buf[0];
    return skb->protocol + (skb->pkt_type << 16) + skb->mark + skb->priority;
}

char _license[] SEC("license") = "GPL";
