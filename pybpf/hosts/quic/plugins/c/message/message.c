/* The MESSAGE / ECHO extension: a new frame type both ends understand.  The C version of
 * MessageExtension (plugins/frames.py), byte for byte the same frames.
 *
 * Frame PQUIC_FRAME_TYPE (0x3F5042): kind (varint) | length (varint) | payload; kind 0 is a
 * MESSAGE, which the receiver answers with an ECHO (kind 1) of the same payload.  The endpoint
 * advertises the extension with transport parameter PQUIC_TRANSPORT_PARAMETER (value: the frame
 * types it accepts, as varints) and only sends frames once the peer advertised it: a peer without
 * the extension would close the connection on an unknown frame.  A lost frame is sent again.
 *
 * The application's side (pybpf.hosts.quic.messages.MessageChannel):
 *   - to send, it writes a struct message (kind 0, len, payload at data[PAYLOAD_OFFSET]) into slot
 *     n % OUTBOX of the array map `outbox`, sets outbox_head[0] = n + 1, and calls this plugin's
 *     operation `message_flush`, which moves the new messages into the send queue;
 *   - every MESSAGE and ECHO received is written to slot n % INBOX of the array map `inbox`
 *     (same layout), n being stats.inbox_written;
 *   - `stats` (one struct stats) tells whether the peer supports the extension and counts frames.
 *
 * Inside: every message to send or in flight has one of SLOTS slots (map `slots`); the send queue
 * is a ring of slot indexes, the token of a frame in flight is its slot index + 1. */
#include <pybpf/plugin.h>
#include "../../../include/pquic.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define MAX_PAYLOAD 1024    /* longest payload (a frame must fit in a packet) */
#define PAYLOAD_OFFSET 16   /* payload position in every message buffer; the header goes before it */
#define DATA_SIZE (PAYLOAD_OFFSET + MAX_PAYLOAD + 16)
#define SLOTS 128           /* messages queued or in flight (a power of two) */
#define OUTBOX 64
#define INBOX 256
#define TP_MAX 128          /* longest transport-parameter value parsed (a longer one is ignored) */
#define FLUSH_BATCH 16      /* messages one message_flush moves at most */

#define KIND_MESSAGE 0
#define KIND_ECHO 1

#define SLOT_FREE 0
#define SLOT_QUEUED 1
#define SLOT_IN_FLIGHT 2

struct message {
	__u32 kind;
	__u32 len;
	__u8 data[DATA_SIZE];
};

struct stats {
	__u64 peer_supports;
	__u64 frames_sent;
	__u64 frames_lost;
	__u64 outbox_taken;   /* messages taken from the outbox */
	__u64 inbox_written;  /* records written to the inbox */
	__u64 echoes_dropped; /* MESSAGEs not echoed because every slot was busy */
	__u64 rejected;       /* outbox entries refused (payload too long) */
	__u64 queued;         /* messages waiting for a packet now */
};

struct {
	__uint(type, 2); /* BPF_MAP_TYPE_ARRAY */
	__uint(max_entries, OUTBOX);
	__type(key, __u32);
	__type(value, struct message);
} outbox SEC(".maps");

struct {
	__uint(type, 2);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} outbox_head SEC(".maps");

struct {
	__uint(type, 2);
	__uint(max_entries, INBOX);
	__type(key, __u32);
	__type(value, struct message);
} inbox SEC(".maps");

struct {
	__uint(type, 2);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, struct message);
} slots SEC(".maps");

struct {
	__uint(type, 2);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stats);
} stats SEC(".maps");

/* The send queue and the slot allocator (global data: shared by this object's bytecodes). */
struct queue {
	__u64 head, tail;         /* ring[head % SLOTS] is the next message to send */
	__u32 ring[SLOTS];
	__u32 state[SLOTS];
	__u32 free_list[SLOTS];
	__u32 free_count;
	__u32 fresh;              /* slots never used yet: fresh..SLOTS-1 */
};

struct queue q = {};

static __always_inline struct stats *get_stats(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&stats, &zero);
}

/* Ask the host for `count` more write_frame calls (PQUIC_OP_RESERVE_FRAME, a host service). */
static __always_inline void reserve(__u64 count)
{
	__u64 args[1] = {count};
	pb_call_op(PQUIC_OP_RESERVE_FRAME, PQUIC_FRAME_TYPE, args, sizeof(args));
}

static __always_inline __s64 slot_alloc(void)
{
	if (q.free_count) {
		q.free_count--;
		return q.free_list[q.free_count & (SLOTS - 1)];
	}
	if (q.fresh < SLOTS)
		return q.fresh++;
	return -1;
}

static __always_inline void slot_free(__u32 idx)
{
	q.state[idx & (SLOTS - 1)] = SLOT_FREE;
	q.free_list[q.free_count & (SLOTS - 1)] = idx;
	q.free_count++;
}

/* Queue slot idx for sending; ask the host for a write_frame call once the peer supports us. */
static __always_inline void enqueue(struct stats *st, __u32 idx)
{
	q.state[idx & (SLOTS - 1)] = SLOT_QUEUED;
	q.ring[q.tail & (SLOTS - 1)] = idx;
	q.tail++;
	st->queued++;
	if (st->peer_supports)
		reserve(1);
}

/* The frame header, right-aligned before the payload: kind (1 byte) and the length as a
 * 1-byte (< 64) or 2-byte varint, the minimal encoding (what aioquic's Buffer writes). */
static __always_inline void write_header(struct message *m, __u32 kind)
{
	__u32 len = m->len;

	m->kind = kind;
	if (len < 64) {
		m->data[PAYLOAD_OFFSET - 2] = kind;
		m->data[PAYLOAD_OFFSET - 1] = len;
	} else {
		m->data[PAYLOAD_OFFSET - 3] = kind;
		m->data[PAYLOAD_OFFSET - 2] = 0x40 | (len >> 8);
		m->data[PAYLOAD_OFFSET - 1] = len & 0xff;
	}
}

/* Copy the record src into a free send slot as a frame of this kind and queue it: 1 when
 * queued, 0 when no slot is free. */
static __always_inline int queue_copy(struct stats *st, struct message *src, __u32 kind)
{
	struct message *m;
	__s64 got = slot_alloc();
	__u32 idx;

	if (got < 0)
		return 0;
	idx = (__u32)got;
	bpf_map_update_elem(&slots, &idx, src, 0);
	m = bpf_map_lookup_elem(&slots, &idx);
	if (!m)
		return 0;
	write_header(m, kind);
	enqueue(st, idx);
	return 1;
}

/* A QUIC varint at p (8 readable bytes): its value in *value, its width (1, 2, 4 or 8) returned. */
static __always_inline __u32 varint(const __u8 *p, __u64 *value)
{
	__u32 width = 1u << (p[0] >> 6);
	__u64 v = 0;

#pragma unroll
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	v >>= (8 - width) * 8;
	v &= (1ULL << (8 * width - 2)) - 1;
	*value = v;
	return width;
}

/* Decode kind and length at the start of a frame body; returns the header size, 0 if malformed. */
static __always_inline __u32 frame_header(__u64 input, __u64 *kind, __u64 *len)
{
	__u8 buf[24] = {};
	long got = pb_get_input_bytes(input, buf, 16);
	__u32 w1, w2;

	if (got <= 0)
		return 0;
	w1 = varint(buf, kind);
	if (w1 > got)
		return 0;
	w2 = varint(buf + (w1 & 15), len);
	if (w1 + w2 > got)
		return 0;
	if (*kind > KIND_ECHO || *len > MAX_PAYLOAD)
		return 0;
	return w1 + w2;
}

/* Move one message from the outbox to the send queue: 1 if moved, 0 if none is waiting or no
 * slot is free (it stays in the outbox until a slot frees). */
static __always_inline int take_one(struct stats *st)
{
	__u32 zero = 0;
	__u64 *head = bpf_map_lookup_elem(&outbox_head, &zero);
	struct message *entry;
	__u32 at;

	if (!head || st->outbox_taken >= *head)
		return 0;
	at = st->outbox_taken % OUTBOX;
	entry = bpf_map_lookup_elem(&outbox, &at);
	if (!entry)
		return 0;
	if (entry->len > MAX_PAYLOAD) {
		st->outbox_taken++;
		st->rejected++;
		return 1;
	}
	if (!queue_copy(st, entry, KIND_MESSAGE))
		return 0;
	st->outbox_taken++;
	return 1;
}

/* -- the application's operation ------------------------------------------------------------ */
SEC("plugin/message_flush")
__u64 message_flush(void *ctx)
{
	struct stats *st = get_stats();
	__u64 moved = 0;

	if (!st)
		return 0;
	for (int i = 0; i < FLUSH_BATCH; i++) {
		if (!take_one(st))
			break;
		moved++;
	}
	return moved;
}

/* -- transport parameter -------------------------------------------------------------------- */
SEC("plugin/write_transport_parameter")
__u64 write_transport_parameter(void *ctx)
{
	/* the frame types we accept: PQUIC_FRAME_TYPE as a 4-byte varint */
	__u8 value[4] = {0x80 | (PQUIC_FRAME_TYPE >> 24), (PQUIC_FRAME_TYPE >> 16) & 0xff,
			 (PQUIC_FRAME_TYPE >> 8) & 0xff, PQUIC_FRAME_TYPE & 0xff};

	pb_set_output_bytes(0, value, sizeof(value));
	return 0;
}

SEC("plugin/process_transport_parameter")
__u64 process_transport_parameter(void *ctx)
{
	struct stats *st = get_stats();
	__u8 buf[TP_MAX + 8] = {};
	__u64 length = pb_get_input(0), value;
	__u32 off = 0, supported = 0;
	long got;

	if (!st || length > TP_MAX)
		return 0; /* a malformed (or absurdly long) advertisement means "not supported" */
	got = pb_get_input_bytes(0, buf, TP_MAX);
	for (int i = 0; i < TP_MAX; i++) {
		if (off >= got)
			break;
		off += varint(buf + (off & (TP_MAX - 1)), &value);
		if (off > got)
			return 0;
		if (value == PQUIC_FRAME_TYPE)
			supported = 1;
	}
	st->peer_supports = supported;
	if (supported && q.tail != q.head)
		reserve(q.tail - q.head); /* one write_frame per message queued before we knew */
	return 0;
}

/* -- frames --------------------------------------------------------------------------------- */
SEC("plugin/write_frame")
__u64 write_frame(void *ctx)
{
	struct stats *st = get_stats();
	struct message *m;
	__u32 idx, len, header;

	if (!st || q.head == q.tail)
		return 0; /* nothing to send: no outputs, the host drops the reservation */
	idx = q.ring[q.head & (SLOTS - 1)];
	m = bpf_map_lookup_elem(&slots, &idx);
	if (!m)
		return 0;
	len = m->len;
	if (len > MAX_PAYLOAD)
		return 0;
	header = len < 64 ? 2 : 3;
	pb_set_output_bytes(0, m->data + PAYLOAD_OFFSET - header, header + len);
	if (header + len > pb_get_input(PQUIC_WRITE_FRAME_IN_CAPACITY)) {
		pb_set_output(1, 0); /* does not fit: the host keeps the reservation for the next packet */
		return 0;
	}
	q.head++;
	q.state[idx & (SLOTS - 1)] = SLOT_IN_FLIGHT;
	st->queued--;
	st->frames_sent++;
	pb_set_output(1, idx + 1);
	return 0;
}

SEC("plugin/notify_frame")
__u64 notify_frame(void *ctx)
{
	struct stats *st = get_stats();
	__u64 token = pb_get_input(PQUIC_NOTIFY_FRAME_IN_TOKEN);
	__u32 idx;

	if (!st || token == 0 || token > SLOTS)
		return 0;
	idx = (__u32)(token - 1);
	if (q.state[idx & (SLOTS - 1)] != SLOT_IN_FLIGHT)
		return 0;
	if (pb_get_input(PQUIC_NOTIFY_FRAME_IN_ACKED)) {
		slot_free(idx);
		take_one(st); /* a message the outbox held back for want of a slot */
	} else {
		st->frames_lost++;
		enqueue(st, idx);
	}
	return 0;
}

SEC("plugin/parse_frame")
__u64 parse_frame(void *ctx)
{
	__u64 kind, len, total;
	__u32 header = frame_header(0, &kind, &len);

	total = header ? header + len : 0;
	if (total > pb_get_input(0))
		total = 0; /* 0: malformed, the host closes with FRAME_ENCODING_ERROR */
	pb_set_output(0, total);
	return total;
}

SEC("plugin/process_frame")
__u64 process_frame(void *ctx)
{
	struct stats *st = get_stats();
	struct message *rec;
	__u64 kind, len;
	__u32 header = frame_header(PQUIC_PROCESS_FRAME_IN_BODY, &kind, &len);
	__u32 at;

	if (!st || !header || header > PAYLOAD_OFFSET)
		return 0;
	at = st->inbox_written % INBOX;
	rec = bpf_map_lookup_elem(&inbox, &at);
	if (!rec)
		return 0;
	/* the body lands with its payload at PAYLOAD_OFFSET */
	pb_get_input_bytes(PQUIC_PROCESS_FRAME_IN_BODY, rec->data + (PAYLOAD_OFFSET - header), MAX_PAYLOAD + 16);
	rec->kind = (__u32)kind;
	rec->len = (__u32)len;
	st->inbox_written++;
	if (kind != KIND_MESSAGE)
		return 0;
	if (!queue_copy(st, rec, KIND_ECHO))
		st->echoes_dropped++;
	return 0;
}
