/* A plugin that behaves (hands every cc_packet_acked to aioquic with pb_next()) until its
 * FAULT_AT-th call, then misbehaves in the way its .c file chooses. */
#include <pybpf/plugin.h>
#include "../../../../pybpf/hosts/quic/include/pquic.h"

#define FAULT_AT 40

__u64 calls = 0;
