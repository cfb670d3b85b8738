/* Creates operation triple (id 100): three times its input.  schedule is replaced by a
 * bytecode that calls triple (a plugin operation) and hook (a host operation): nested anchors.
 * A parametrised recursion (depth param) through process_frame checks re-entrant bytecodes. */
#include <pybpf/plugin.h>
#include "toy.h"

#define OP_TRIPLE 100

SEC("plugin/triple")
__u64 triple(void *ctx)
{
	return 3 * pb_get_input(0);
}

SEC("plugin/schedule")
__u64 schedule(void *ctx)
{
	__u64 a[1] = {5};
	__u64 t = pb_call_op(OP_TRIPLE, PB_NO_PARAM, a, sizeof(a));  /* 15 */
	__u64 b[1] = {t};
	__u64 h = pb_call_op(TOY_OP_HOOK, PB_NO_PARAM, b, sizeof(b)); /* host default: 16 */
	return t * 1000 + h;
}

SEC("plugin/descend")
__u64 descend(void *ctx)
{
	__u64 depth = pb_get_param();
	__u64 mark = depth * 10;
	if (depth >= 3)
		return pb_get_input(0);
	__u64 a[1] = {pb_get_input(0) + 1};
	__u64 below = pb_call_op(TOY_OP_PROCESS_FRAME, depth + 1, a, sizeof(a));
	return below + mark;  /* checks the caller's state survived the nested run */
}
