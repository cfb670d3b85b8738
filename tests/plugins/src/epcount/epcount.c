/* Endpoint scope: hook adds its input to the endpoint field total and returns the new total. */
#include <pybpf/plugin.h>
#include "toy.h"

SEC("plugin/hook")
__u64 hook(void *ctx)
{
	__u64 t = pb_get_field(TOY_FIELD_TOTAL) + pb_get_input(0);
	pb_set_field(TOY_FIELD_TOTAL, t);
	return t;
}
