/* A classic socket filter: keep the first 96 bytes of IPv4 TCP packets to port 22 or 80 and drop
 * everything else.  It reads the packet with the legacy LD_ABS/LD_IND loads, as tcpdump-style
 * filters do; the packet starts at the Ethernet header. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");

SEC("socket")
int ssh_or_http(struct __sk_buff *skb) {
    if (load_half(skb, 12) != ETH_P_IP)
        return 0;
    if (load_byte(skb, ETH_HLEN + 9) != IPPROTO_TCP)
        return 0;
    __u32 ihl = (load_byte(skb, ETH_HLEN) & 0x0f) * 4;
    __u32 dport = load_half(skb, ETH_HLEN + ihl + 2);
    if (dport == 22 || dport == 80)
        return 96;
    return 0;
}

char _license[] SEC("license") = "GPL";
