/* SPDX-License-Identifier: MIT */
/*
 * pybpf/plugin.h -- the API of pybpf plugins, for plugin bytecodes written in C.
 *
 * Compile with:  clang -target bpf -O2 -g $(pybpf plugin cflags) -c my.c -o my.o
 * (or let `pybpf plugin build DIR` do it).  See docs/plugins.md.
 *
 * Every function is an eBPF helper called by number, like libbpf's bpf_helper_defs.h.  The
 * framework knows which session, plugin, operation and invocation a call serves (a hidden
 * context): no context pointer is passed.  Functions marked [perm] need that permission in the
 * bytecode's manifest entry ("permissions": [...]); [replace] ones are for replace bytecodes only.
 * A bytecode calling a function it is not granted is rejected when the plugin is inserted.
 * Run-time misuse (bad index, unknown field or operation, double free, ...) is a fault: the
 * plugin is removed and the host's default behaviour restored.
 */
#ifndef PYBPF_PLUGIN_H
#define PYBPF_PLUGIN_H

/* The kernel's fixed-width names (identical typedefs to <linux/types.h>, which may also be included). */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;

#define PB_NO_PARAM ((__u64)-1)     /* pb_get_param() / pb_call_op(): no parameter */
#define PB_SHM_ENDPOINT 1           /* pb_shm_*() flag: the endpoint-wide store */

/* Sections and maps, as with libbpf (unless libbpf's bpf_helpers.h is included already). */
#ifndef __BPF_HELPERS__
#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif
#ifndef __uint
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]
#endif
/* Linux map helpers at their Linux ids [maps] */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *) 1;  /* value pointer or NULL */
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *) 2;
static long (*bpf_map_delete_elem)(void *map, const void *key) = (void *) 3;
#endif

/* -- inputs, outputs, parameter ------------------------------------------------------------ */
/* Input i of the current operation (u64; for a byte input, its length). */
static __u64 (*pb_get_input)(__u64 i) = (void *) 1000;
/* Set output i to a u64 value. [replace] */
static long (*pb_set_output)(__u64 i, __u64 value) = (void *) 1001;
/* Copy byte input i into buf (at most size bytes); returns the number of bytes copied. */
static long (*pb_get_input_bytes)(__u64 i, void *buf, __u32 size) = (void *) 1002;
/* Set output i to the size bytes at buf. [replace] */
static long (*pb_set_output_bytes)(__u64 i, const void *buf, __u32 size) = (void *) 1003;
/* The operation's parameter (e.g. a frame type), PB_NO_PARAM if none. */
static __u64 (*pb_get_param)(void) = (void *) 1004;
/* The operation's result: what post observers see (0 before it exists). */
static __u64 (*pb_get_result)(void) = (void *) 1005;
/* Number of inputs of the current operation. */
static __u64 (*pb_num_inputs)(void) = (void *) 1006;

/* -- host fields (ids from the host's header, Host.c_header()) --------------------------------- */
/* Read host field `field`; it must be listed in the manifest's fields.read. [read] */
static __u64 (*pb_get_field)(__u64 field) = (void *) 1010;
/* Write host field `field`; it must be writable and listed in fields.write. [write] */
static long (*pb_set_field)(__u64 field, __u64 value) = (void *) 1011;

/* -- operations ----------------------------------------------------------------------------- */
/* Run the next replace bytecode of the chain, or the default at its end; returns its result. [replace] */
static __u64 (*pb_next)(void) = (void *) 1020;
/* Call operation `op` (param or PB_NO_PARAM) with args_size / 8 u64 inputs; returns its result.
 * Calling an operation already running is a fault (cycle). [call] */
static __u64 (*pb_call_op)(__u64 op, __u64 param, const __u64 *args, __u32 args_size) = (void *) 1021;

/* -- memory --------------------------------------------------------------------------------- */
/* A zeroed block of the plugin's persistent heap, or NULL when full. [heap] */
static void *(*pb_malloc)(__u64 size) = (void *) 1030;
/* A zeroed block of n * size bytes, or NULL. [heap] */
static void *(*pb_calloc)(__u64 n, __u64 size) = (void *) 1031;
/* Resize a block, keeping its contents; NULL on failure (the old block stays valid). [heap] */
static void *(*pb_realloc)(void *ptr, __u64 size) = (void *) 1032;
/* Free a block (NULL is ignored; anything else not a live block is a fault). [heap] */
static long (*pb_free)(void *ptr) = (void *) 1033;
/* A zeroed scratch block, valid until the current invocation ends, or NULL. */
static void *(*pb_scratch_alloc)(__u64 size) = (void *) 1034;
/* A new zeroed shared block under key (flags 0: this plugin's store, PB_SHM_ENDPOINT: the
 * endpoint's, shared with other plugins); NULL if the key exists or memory is full. [shm] */
static void *(*pb_shm_new)(__u64 key, __u64 size, __u64 flags) = (void *) 1040;
/* The shared block under key if it has at least size bytes, else NULL. [shm] */
static void *(*pb_shm_get)(__u64 key, __u64 size, __u64 flags) = (void *) 1041;
/* Remove the shared block under key: 0, or -ENOENT (-2). [shm] */
static long (*pb_shm_remove)(__u64 key, __u64 flags) = (void *) 1042;

/* -- log and time --------------------------------------------------------------------------- */
/* A printf-like log line: %d %i %u %x %X %c %%, with l/ll; three u64 arguments (unused ones 0). */
static long (*pb_log)(const char *fmt, __u32 fmt_size, __u64 a, __u64 b, __u64 c) = (void *) 1050;
/* Monotonic time in nanoseconds. */
static __u64 (*pb_time_ns)(void) = (void *) 1051;

/* pb_printf("x=%d y=%d", x, y): pb_log with a literal format and 0 to 3 arguments. */
#define ___pb_log3(fmt, a, b, c, ...)                                                            \
	({                                                                                        \
		static const char ___pb_fmt[] = fmt;                                              \
		pb_log(___pb_fmt, sizeof(___pb_fmt), (__u64)(a), (__u64)(b), (__u64)(c));         \
	})
#define pb_printf(fmt, ...) ___pb_log3(fmt, ##__VA_ARGS__, 0, 0, 0, 0)

#endif /* PYBPF_PLUGIN_H */
