/* Map values of many BTF kinds, written by a program so that clang decides the layout, for
 * tests/elf/test_btf_format.py (which decodes them through the object's BTF).  The test
 * asserts the constants below, so keep the two in step when editing.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum level { LOW = 1, MID = 5, HIGH = 9 };
enum slot { SLOT_A, SLOT_B, SLOT_C, N_SLOTS };

struct point {
	__s16 x;
	__s16 y;
};

typedef char label_t[8];

struct record {
	__u64 total;
	__s32 delta;
	__s8 tiny;
	_Bool ok;
	struct point origin;
	struct point path[3];
	char name[12];
	char raw[4];
	__u8 mac[6];
	enum level level;
	enum level odd;
	unsigned int flags : 3;
	int small : 5;
	unsigned int wide : 20;
	union {
		__u32 word;
		__u8 bytes[4];
	} u;
	union {
		__u32 addr4;
		__u16 half[2];
	};
	__u16 grid[2][3];
	volatile const __u32 qualified;
	void *ptr;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct record);
} records SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, N_SLOTS);
	__type(key, enum slot);
	__type(value, __u64);
} by_slot SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, label_t);
	__type(value, __s64);
} by_label SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct point);
} per_cpu SEC(".maps");

__u64 runs;

SEC("syscall")
int fill(void *ctx)
{
	struct record r;
	__u32 key = 0;
	enum slot slot = SLOT_B;
	__u64 count = 42;
	label_t label = "eth0";
	__s64 weight = -7;

	__builtin_memset(&r, 0, sizeof(r));
	r.total = (1ULL << 40) + 5;
	r.delta = -123456;
	r.tiny = -3;
	r.ok = 1;
	r.origin.x = -1;
	r.origin.y = 2;
	r.path[0].x = 1;
	r.path[0].y = 2;
	r.path[1].x = 3;
	r.path[1].y = 4;
	r.path[2].x = -5;
	r.path[2].y = -6;
	__builtin_memcpy(r.name, "pybpf", 6);
	r.raw[0] = 'a';
	r.raw[2] = 'b';
	r.mac[1] = 0x11;
	r.mac[2] = 0x22;
	r.mac[3] = 0x33;
	r.mac[4] = 0x44;
	r.mac[5] = 0xff;
	r.level = MID;
	r.odd = (enum level)7;
	r.flags = 5;
	r.small = -7;
	r.wide = 0xabcde;
	r.u.word = 0x04030201;
	r.addr4 = 0x0a000001;
	r.grid[0][0] = 1;
	r.grid[0][1] = 2;
	r.grid[0][2] = 3;
	r.grid[1][0] = 4;
	r.grid[1][1] = 5;
	r.grid[1][2] = 6;
	*(__u32 *)&r.qualified = 99;
	r.ptr = (void *)0xdead0000UL;
	bpf_map_update_elem(&records, &key, &r, BPF_ANY);
	bpf_map_update_elem(&by_slot, &slot, &count, BPF_ANY);
	bpf_map_update_elem(&by_label, label, &weight, BPF_ANY);
	runs += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
