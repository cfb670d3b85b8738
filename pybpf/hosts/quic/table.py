"""The anchor table: every operation the QUIC host exposes, and every connection field, as data.

Why data and not code: phase 2 turns this table into the plugin framework's host declaration
(name, parameter, typed inputs and outputs, default), the C header for plugin authors and the
docs, so the numbers here are a stable ABI.  Never renumber an entry; append new ones.

Conventions (chosen so an eBPF C plugin needs no floating point):

* every value is an unsigned 64-bit integer, except the few ``bytes`` values of the frame and
  transport-parameter operations;
* times are integer microseconds of the connection clock (``*_us``); durations likewise;
* an unset ``ssthresh`` is :data:`SSTHRESH_INFINITE` (``UINT64_MAX``), so ``cwnd < ssthresh``
  means "in slow start" without a special case;
* in the congestion-control operations ``bytes_in_flight`` is the value *after* the host applied
  the event (sent bytes added, acked/lost/expired bytes removed): the host owns that counter;
* an operation's outputs are a tuple in the order listed; an empty tuple means "nothing".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

SSTHRESH_INFINITE = 2**64 - 1
"""``ssthresh`` before the first congestion event (aioquic's ``None``)."""

PYBPF_FRAME_TYPE = 0x3F5042
"""Frame type of the reference extension frame ("?PB"): above the 0x00-0x3f standards-action range,
clear of DATAGRAM (0x30/0x31), ACK_FREQUENCY (0xaf), IMMEDIATE_ACK (0x1f), RESET_STREAM_AT (0x24)
and the multipath drafts' 0x15228c…/0x3e7… blocks."""

PYBPF_TRANSPORT_PARAMETER = 0x3F5042
"""Transport parameter advertising the extension frames an endpoint understands.  Not of the
reserved greasing form ``31 * N + 27`` and not an assigned or draft parameter id."""


class Kind(Enum):
    """How the host uses an operation's result."""

    ACTION = "action"
    """The host applies the outputs (a window, a time, a decision)."""
    OBSERVER = "observer"
    """The host ignores the outputs; the operation exists so plugins can watch (pre/post)."""
    SERVICE = "service"
    """The host never dispatches it: plugins call it (``pb_call_op``) to ask the host for
    something, at any time; its default acts on the connection directly."""


class Param(Enum):
    """What an operation's parameter means."""

    NONE = "none"
    FRAME_TYPE = "frame_type"
    TRANSPORT_PARAMETER = "transport_parameter"


@dataclass(frozen=True)
class Operation:
    """One anchor: a protocol operation a plugin can observe or replace."""

    id: int
    name: str
    param: Param
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    kind: Kind
    default: str
    """What runs when no plugin replaces the operation (aioquic's behaviour)."""


@dataclass(frozen=True)
class Field:
    """A connection field a plugin may read (and, if ``writable``, write) through the host API."""

    id: int
    name: str
    writable: bool
    unit: str
    doc: str


_CC_STATE = ("now_us", "cwnd", "ssthresh", "bytes_in_flight", "max_datagram_size")
_CC_OUT = ("cwnd", "ssthresh")
_CC_DEFAULT = "the connection's aioquic controller (its configured algorithm, reno or cubic)"

OPERATIONS: tuple[Operation, ...] = (
    # --- congestion control (aioquic QuicCongestionControl, through the "pybpf" algorithm) ---
    Operation(1, "cc_packet_sent", Param.NONE, (*_CC_STATE, "packet_number", "sent_bytes"), _CC_OUT,
              Kind.ACTION, f"on_packet_sent of {_CC_DEFAULT}"),
    Operation(2, "cc_packet_acked", Param.NONE, (*_CC_STATE, "packet_number", "sent_bytes", "sent_time_us"), _CC_OUT,
              Kind.ACTION, f"on_packet_acked of {_CC_DEFAULT}"),
    Operation(3, "cc_packets_lost", Param.NONE, (*_CC_STATE, "count", "lost_bytes", "last_sent_time_us"), _CC_OUT,
              Kind.ACTION, f"on_packets_lost of {_CC_DEFAULT}"),
    Operation(4, "cc_packets_expired", Param.NONE, (*_CC_STATE, "count", "expired_bytes"), _CC_OUT,
              Kind.ACTION, f"on_packets_expired of {_CC_DEFAULT}"),
    Operation(5, "cc_persistent_congestion", Param.NONE, _CC_STATE, _CC_OUT,
              Kind.ACTION, f"on_persistent_congestion of {_CC_DEFAULT}"),
    Operation(6, "cc_rtt_sample", Param.NONE, (*_CC_STATE, "rtt_us", "smoothed_rtt_us", "min_rtt_us"), _CC_OUT,
              Kind.ACTION, f"on_rtt_measurement of {_CC_DEFAULT}"),
    Operation(7, "cc_pacing_rate", Param.NONE, ("now_us", "cwnd", "smoothed_rtt_us", "max_datagram_size"),
              ("rate_bytes_per_s",), Kind.ACTION, "QuicPacketPacer.update_rate (cwnd / smoothed_rtt)"),
    # --- loss detection (aioquic QuicPacketRecovery) ---
    Operation(8, "detect_loss", Param.NONE,
              ("now_us", "epoch", "largest_acked", "latest_rtt_us", "smoothed_rtt_us", "rtt_initialized", "initial_rtt_us"),
              ("packet_threshold", "loss_delay_us"), Kind.ACTION,
              "QuicPacketRecovery._detect_loss (thresholds 3 packets and 9/8 * max(latest_rtt, smoothed_rtt)); a replacement returns the thresholds and the host runs the same pass with them"),
    Operation(9, "loss_detection_time", Param.NONE, ("amplification_limited", "pto_count"), ("time_us",),
              Kind.ACTION, "QuicPacketRecovery.get_loss_detection_time (0 = no timer)"),
    Operation(10, "probe_timeout", Param.NONE,
              ("include_max_ack_delay", "smoothed_rtt_us", "rtt_variance_us", "max_ack_delay_us"), ("pto_us",),
              Kind.ACTION, "QuicPacketRecovery.get_probe_timeout"),
    Operation(11, "loss_timeout", Param.NONE, ("now_us", "pto_count"), (), Kind.ACTION,
              "QuicPacketRecovery.on_loss_detection_timeout (time-threshold loss or PTO probe)"),
    Operation(12, "ack_delay", Param.NONE, ("default_ack_delay_us",), ("ack_delay_us",), Kind.ACTION,
              "aioquic's fixed local ACK delay (K_GRANULARITY, 1 ms)"),
    # --- stream scheduling (aioquic QuicConnection._write_application) ---
    Operation(13, "stream_priority", Param.NONE, ("stream_id", "pending_bytes", "queue_position"), ("priority",),
              Kind.ACTION, "0 for every stream: aioquic's round-robin order (lower priority value is served first)"),
    Operation(14, "stream_quota", Param.NONE, ("stream_id", "credit_bytes", "remaining_space"), ("max_new_bytes",),
              Kind.ACTION, "credit_bytes: as much new data as flow control allows"),
    # --- packet observers ---
    Operation(15, "packet_sent", Param.NONE,
              ("now_us", "epoch", "packet_number", "sent_bytes", "ack_eliciting", "in_flight"), (),
              Kind.OBSERVER, "nothing"),
    Operation(16, "packet_received", Param.NONE, ("now_us", "epoch", "payload_bytes"), (), Kind.OBSERVER, "nothing"),
    Operation(17, "packet_lost", Param.NONE,
              ("now_us", "epoch", "packet_number", "sent_bytes", "sent_time_us", "congestion_event"), (),
              Kind.OBSERVER, "nothing"),
    # --- transport parameters (param = transport parameter id) ---
    Operation(18, "write_transport_parameter", Param.TRANSPORT_PARAMETER, (), ("value",), Kind.ACTION,
              "omit the parameter (empty outputs)"),
    Operation(19, "process_transport_parameter", Param.TRANSPORT_PARAMETER, ("value",), (), Kind.ACTION,
              "ignore it (aioquic skips unknown parameters)"),
    # --- extension frames (param = frame type) ---
    Operation(20, "parse_frame", Param.FRAME_TYPE, ("data",), ("consumed",), Kind.ACTION,
              "FRAME_ENCODING_ERROR 'Unknown frame type' (aioquic's behaviour)"),
    Operation(21, "process_frame", Param.FRAME_TYPE, ("now_us", "body"), (), Kind.ACTION, "nothing"),
    Operation(22, "write_frame", Param.FRAME_TYPE, ("now_us", "capacity"), ("body", "token"), Kind.ACTION,
              "write nothing and drop the reservation (empty outputs)"),
    Operation(23, "notify_frame", Param.FRAME_TYPE, ("now_us", "acked", "token"), (), Kind.ACTION, "nothing"),
    # --- connection life ---
    Operation(24, "connection_state_changed", Param.NONE, ("old_state", "new_state"), (), Kind.OBSERVER, "nothing"),
    # --- services plugins call ---
    Operation(25, "reserve_frame", Param.FRAME_TYPE, ("count",), (), Kind.SERVICE,
              "ask for count more write_frame calls for this frame type in coming 1-RTT packets "
              "(AnchorLayer.reserve_frame)"),
)

FIELDS: tuple[Field, ...] = (
    Field(1, "cwnd", True, "bytes", "congestion window"),
    Field(2, "ssthresh", True, "bytes", "slow-start threshold (SSTHRESH_INFINITE when unset)"),
    Field(3, "bytes_in_flight", False, "bytes", "bytes of in-flight packets not yet acked, lost or expired"),
    Field(4, "smoothed_rtt", False, "us", "RFC 9002 smoothed RTT"),
    Field(5, "min_rtt", False, "us", "minimum RTT seen (0 before the first sample)"),
    Field(6, "latest_rtt", False, "us", "latest RTT sample after ack-delay adjustment"),
    Field(7, "rtt_variance", False, "us", "RFC 9002 rttvar"),
    Field(8, "pacing_rate", False, "bytes/s", "rate the pacer currently applies (0 before the first RTT sample)"),
    Field(9, "max_datagram_size", False, "bytes", "the connection's maximum datagram size"),
    Field(10, "pto_count", False, "count", "consecutive probe timeouts"),
    Field(11, "max_ack_delay", False, "us", "the peer's max_ack_delay"),
    Field(12, "initial_rtt", False, "us", "configured initial RTT"),
    Field(13, "packets_sent", False, "count", "packets this connection sent"),
    Field(14, "packets_lost", False, "count", "packets declared lost (congestion events only)"),
    Field(15, "is_client", False, "bool", "1 on the client"),
    Field(16, "handshake_complete", False, "bool", "1 once the TLS handshake completed"),
)

OPERATIONS_BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}
FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
FIELDS_BY_ID: dict[int, Field] = {f.id: f for f in FIELDS}


def operation(name: str) -> Operation:
    """The operation called ``name``; a KeyError names the known ones."""
    try:
        return OPERATIONS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown QUIC operation {name!r}; known: {', '.join(OPERATIONS_BY_NAME)}") from None


def _check_table() -> None:
    ids = [op.id for op in OPERATIONS]
    assert len(set(ids)) == len(ids) and len(OPERATIONS_BY_NAME) == len(OPERATIONS), "duplicate operation"
    assert len(FIELDS_BY_ID) == len(FIELDS) == len(FIELDS_BY_NAME), "duplicate field"


_check_table()
