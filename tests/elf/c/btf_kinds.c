/* Exercises BTF kinds beyond what maps need (unions, enums, bitfields, forward
 * declarations, function pointers, qualifiers, tags) plus CO-RE relocations, for
 * tests/elf/test_btf.py.  Keep the test's expectations in step when editing.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __user_tag __attribute__((btf_type_tag("user")))

enum color { RED = -1, GREEN = 2, BLUE = 0x7fffffff };

struct opaque;

typedef int (*handler_fn)(void *ctx, unsigned long flags);
typedef const char *name_t;
typedef name_t alias_name_t;

struct packet {
	__u32 len;
	union {
		__u32 addr4;
		__u8 addr6[16];
	};
	struct {
		__u16 sport;
		__u16 dport;
	} ports;
	unsigned int is_ipv6 : 1;
	unsigned int ttl : 8;
	unsigned int : 0;
	enum color color;
	struct opaque *priv;
	handler_fn handler;
	alias_name_t label;
	int *volatile vptr;
	int *restrict rptr;
	float weight;
	long long matrix[2][3];
	int __user_tag *uptr;
	int tagged __tag("tagged_member");
};

struct packet pkt_global;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct packet);
} packets SEC(".maps");

static __attribute__((noinline)) __tag("sub") int classify(struct packet *p)
{
	return p->ttl + p->color;
}

SEC("socket")
int core_prog(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct packet *p = bpf_map_lookup_elem(&packets, &key);

	if (!p)
		return 0;
	/* Two CO-RE accesses: a field byte offset and a field-existence check. */
	__u32 len = __builtin_preserve_access_index(skb->len);
	if (__builtin_preserve_field_info(skb->mark, 2 /* FIELD_EXISTS */))
		len += 1;
	return len + classify(p) + pkt_global.len;
}

char LICENSE[] SEC("license") = "GPL";
