/* The hostile gallery: one program per misbehaviour.  Each manifest in manifests/ makes a
 * one-bytecode plugin of one of these sections; the tests assert it is rejected at load or
 * stopped at run time with the right reason, and that the host keeps working. */
#include <pybpf/plugin.h>
#include "toy.h"

struct {
	__uint(type, 2); /* BPF_MAP_TYPE_ARRAY */
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} small SEC(".maps");

/* Stopped: a bounded loop longer than the invocation budget. */
SEC("h/budget_burn")
__u64 budget_burn(void *ctx)
{
	__u64 sum = 0;
	for (int i = 0; i < 400; i++)
		sum += pb_get_input(0) + i;
	return sum;
}

/* Rejected: a stack read at an index nobody bounds. */
SEC("h/oob_read_stack")
__u64 oob_read_stack(void *ctx)
{
	volatile char buf[16] = {};
	__u64 i = pb_get_input(0);
	return buf[i];
}

/* Rejected: a write past the end of a map value. */
SEC("h/oob_write_map")
__u64 oob_write_map(void *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&small, &key);
	if (!v)
		return 0;
	v[3] = 1;
	return 0;
}

/* Stopped: writes one element past a heap block whose size the verifier cannot know. */
SEC("h/heap_overflow")
__u64 heap_overflow(void *ctx)
{
	__u64 n = pb_get_input(0);
	volatile __u8 *p = pb_malloc(n);
	if (!p)
		return 0;
	for (__u64 i = 0; i <= n && i < 64; i++)
		p[i] = 1;
	return 1;
}

/* Stopped: reads just before a heap block. */
SEC("h/heap_underflow")
__u64 heap_underflow(void *ctx)
{
	__u64 n = pb_get_input(0);
	__u8 *p = pb_malloc(n);
	if (!p)
		return 0;
	__u64 back = n + 8;
	return *(volatile __u64 *)(p + n - back);
}

/* Stopped: writes into a block after freeing it. */
SEC("h/uaf_write")
__u64 uaf_write(void *ctx)
{
	__u64 *p = pb_malloc(32);
	if (!p)
		return 0;
	pb_free(p);
	p[1] = 7;
	return 0;
}

/* Stopped: reads a block after freeing it. */
SEC("h/uaf_read")
__u64 uaf_read(void *ctx)
{
	__u64 *p = pb_malloc(32);
	if (!p)
		return 0;
	p[0] = 5;
	pb_free(p);
	return *(volatile __u64 *)p;
}

/* Stopped: frees a block twice. */
SEC("h/double_free")
__u64 double_free(void *ctx)
{
	void *p = pb_malloc(24);
	if (!p)
		return 0;
	pb_free(p);
	pb_free(p);
	return 0;
}

/* Stopped: frees a pointer into the middle of a block. */
SEC("h/invalid_free")
__u64 invalid_free(void *ctx)
{
	char *p = pb_malloc(24);
	if (!p)
		return 0;
	pb_free(p + 8);
	return 0;
}

/* Stopped: writes a field the host declares read-only. */
SEC("h/readonly_field")
__u64 readonly_field(void *ctx)
{
	pb_set_field(TOY_FIELD_RTT, 1);
	return 0;
}

/* Stopped: reads a field its manifest does not list. */
SEC("h/field_not_granted")
__u64 field_not_granted(void *ctx)
{
	return pb_get_field(TOY_FIELD_ACKED);
}

/* Stopped (with cycle_b): hook -> compute -> hook. */
SEC("h/cycle_a")
__u64 cycle_a(void *ctx)
{
	__u64 args[2] = {1, 2};
	return pb_call_op(TOY_OP_COMPUTE, PB_NO_PARAM, args, sizeof(args));
}

SEC("h/cycle_b")
__u64 cycle_b(void *ctx)
{
	__u64 args[1] = {3};
	return pb_call_op(TOY_OP_HOOK, PB_NO_PARAM, args, sizeof(args));
}

/* Rejected: calls pb_malloc without the "heap" permission. */
SEC("h/escalation")
__u64 escalation(void *ctx)
{
	char *p = pb_malloc(8);
	if (!p)
		return 0;
	return 1;
}

/* Stopped: asks for more memory than the whole heap. */
SEC("h/huge_alloc")
__u64 huge_alloc(void *ctx)
{
	char *p = pb_malloc(1ULL << 40);
	if (!p)
		return 0;
	return 1;
}

/* Stopped: process_frame[k] calls process_frame[k + 1], forever (a different key each time, so
 * no cycle: the nesting bound stops it). */
SEC("h/deep_recursion")
__u64 deep_recursion(void *ctx)
{
	__u64 args[1] = {0};
	return pb_call_op(TOY_OP_PROCESS_FRAME, pb_get_param() + 1, args, sizeof(args));
}

/* Rejected: dereferences an allocation without checking it for NULL. */
SEC("h/null_deref")
__u64 null_deref(void *ctx)
{
	__u64 *p = pb_malloc(8);
	*p = 1;
	return 0;
}

/* Stopped: asks for an input that does not exist. */
SEC("h/bad_api_arg")
__u64 bad_api_arg(void *ctx)
{
	return pb_get_input(7);
}

/* Stopped: calls an operation that does not exist. */
SEC("h/unknown_op")
__u64 unknown_op(void *ctx)
{
	return pb_call_op(9999, PB_NO_PARAM, 0, 0);
}

/* Rejected: dereferences an integer it made up. */
SEC("h/wild_pointer")
__u64 wild_pointer(void *ctx)
{
	__u64 addr = pb_get_input(0);
	return *(__u64 *)addr;
}

/* Rejected: writes below its stack frame at an unbounded index. */
SEC("h/stack_smash")
__u64 stack_smash(void *ctx)
{
	volatile char buf[8];
	__u64 i = pb_get_input(0);
	buf[i] = 1;
	return buf[0];
}

/* Rejected: hands a heap pointer to the host through a field. */
SEC("h/pointer_leak")
__u64 pointer_leak(void *ctx)
{
	void *p = pb_malloc(8);
	pb_set_field(TOY_FIELD_CWND, (__u64)p);
	return 0;
}

/* Rejected when attached as an observer: pb_next belongs to replace bytecodes. */
SEC("h/next_in_pre")
__u64 next_in_pre(void *ctx)
{
	return pb_next();
}

/* Stopped: unknown flags for the shared memory store. */
SEC("h/shm_bad_flags")
__u64 shm_bad_flags(void *ctx)
{
	void *p = pb_shm_get(1, 8, 0x80);
	return p != 0;
}

/* Stopped: calls an operation nothing implements (created by this plugin, no replace). */
SEC("h/no_impl")
__u64 no_impl(void *ctx)
{
	return pb_call_op(500, PB_NO_PARAM, 0, 0);
}

/* Stopped: a bad log format. */
SEC("h/bad_log")
__u64 bad_log(void *ctx)
{
	pb_printf("%q", 1);
	return 0;
}

/* Rejected: reads the (empty) context. */
SEC("h/ctx_read")
__u64 ctx_read(void *ctx)
{
	return *(__u64 *)ctx;
}

/* Rejected: a recursive function (Linux refuses recursion; so does pybpf, before verifying). */
static __attribute__((noinline)) __u64 fib(__u64 n)
{
	if (n < 2)
		return n;
	return fib(n - 1) + fib(n - 2);
}

SEC("h/recursion")
__u64 recursion(void *ctx)
{
	return fib(pb_get_input(0));
}

/* Rejected: a loop bounded only by an input (the verifier cannot prove it ends). */
SEC("h/unbounded_loop")
__u64 unbounded_loop(void *ctx)
{
	__u64 n = pb_get_input(0), acc = 1;
	while (n) {
		acc *= n;
		n--;
	}
	return acc;
}
