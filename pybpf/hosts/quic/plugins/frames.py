"""A new frame type both ends understand: the pybpf MESSAGE / ECHO extension.

Frame ``PYBPF_FRAME_TYPE`` (0x3F5042) carries ``kind (varint) | length (varint) | payload``.
Kind 0 is a MESSAGE; the receiver answers each with an ECHO (kind 1) of the same payload.  An
endpoint advertises the extension with transport parameter ``PYBPF_TRANSPORT_PARAMETER``, whose
value is the list of extension frame types it accepts (varints); a frame is only sent once the
peer advertised it (a peer without the extension would close the connection with
FRAME_ENCODING_ERROR).  Lost frames are sent again (``notify_frame``).
"""

from __future__ import annotations

from typing import ClassVar

from aioquic._buffer import Buffer, BufferReadError

from pybpf.errors import PybpfError
from pybpf.hosts.quic.dispatch import PythonPlugin, Values, unpack_ints
from pybpf.hosts.quic.table import PYBPF_FRAME_TYPE, PYBPF_TRANSPORT_PARAMETER

MESSAGE = 0
ECHO = 1
MAX_ADVERTISEMENT = 128
"""Longest transport-parameter value an endpoint parses (32 four-byte frame types); a longer one
is malformed, i.e. ignored.  The C plugin has the same limit."""
MAX_PAYLOAD = 1024
"""Longest payload of a MESSAGE or ECHO (a frame must fit in one packet); a longer one is a
malformed frame.  The C plugin (plugins/c/message) has the same limit."""


def encode(kind: int, payload: bytes) -> bytes:
    buf = Buffer(capacity=16 + len(payload))
    buf.push_uint_var(kind)
    buf.push_uint_var(len(payload))
    buf.push_bytes(payload)
    return buf.data


def decode(data: bytes) -> tuple[int, bytes, int] | None:
    """(kind, payload, bytes consumed), or None when ``data`` does not start with a valid frame body."""
    buf = Buffer(data=data)
    try:
        kind = buf.pull_uint_var()
        length = buf.pull_uint_var()
        payload = buf.pull_bytes(length)
    except BufferReadError:
        return None
    if kind not in (MESSAGE, ECHO) or length > MAX_PAYLOAD:
        return None
    return kind, payload, buf.tell()


def check_payload(payload: bytes) -> None:
    """Refuse a payload longer than :data:`MAX_PAYLOAD` (shared by both implementations)."""
    if len(payload) > MAX_PAYLOAD:
        raise PybpfError(f"a message payload is at most {MAX_PAYLOAD} bytes, got {len(payload)}")


class MessageExtension(PythonPlugin):
    """Send messages to the peer in the new frame and collect the peer's messages and echoes."""

    NAME = "message-frame"
    FRAME_TYPES: ClassVar[frozenset[int]] = frozenset({PYBPF_FRAME_TYPE})
    TRANSPORT_PARAMETERS: ClassVar[frozenset[int]] = frozenset({PYBPF_TRANSPORT_PARAMETER})

    def __init__(self, messages: list[bytes] | None = None) -> None:
        for message in messages or []:
            check_payload(message)
        self.outbox: list[tuple[int, bytes]] = [(MESSAGE, m) for m in messages or []]
        self.in_flight: dict[int, tuple[int, bytes]] = {}
        self.next_token = 1
        self.peer_supports = False
        self.received: list[bytes] = []
        self.echoes: list[bytes] = []
        self.frames_sent = 0
        self.frames_lost = 0

    def send(self, message: bytes) -> None:
        check_payload(message)
        self._queue(MESSAGE, message)

    def _queue(self, kind: int, payload: bytes) -> None:
        self.outbox.append((kind, payload))
        if self.peer_supports:
            self.layer.reserve_frame(PYBPF_FRAME_TYPE)

    # -- transport parameter -------------------------------------------------------------------
    def op_write_transport_parameter(self, param: int | None, inputs: Values) -> Values:
        buf = Buffer(capacity=16)
        buf.push_uint_var(PYBPF_FRAME_TYPE)
        return (buf.data,)

    def op_process_transport_parameter(self, param: int | None, inputs: Values) -> Values:
        value = inputs[0]
        assert isinstance(value, bytes)
        if len(value) > MAX_ADVERTISEMENT:
            return ()  # malformed: ignored
        buf = Buffer(data=value)
        types: list[int] = []
        try:
            while not buf.eof():
                types.append(buf.pull_uint_var())
        except BufferReadError:
            return ()  # a malformed advertisement means "not supported"
        self.peer_supports = PYBPF_FRAME_TYPE in types
        if self.peer_supports:
            for _ in self.outbox:
                self.layer.reserve_frame(PYBPF_FRAME_TYPE)
        return ()

    # -- frames --------------------------------------------------------------------------------
    def op_write_frame(self, param: int | None, inputs: Values) -> Values:
        capacity = unpack_ints(inputs)[1]
        if not self.outbox:
            return ()
        kind, payload = self.outbox[0]
        body = encode(kind, payload)
        if len(body) > capacity:
            return (body, 0)  # the host keeps the reservation for a packet with more room
        self.outbox.pop(0)
        token = self.next_token
        self.next_token += 1
        self.in_flight[token] = (kind, payload)
        self.frames_sent += 1
        return (body, token)

    def op_notify_frame(self, param: int | None, inputs: Values) -> Values:
        _, acked, token = unpack_ints(inputs)
        entry = self.in_flight.pop(token, None)
        if entry is not None and not acked:
            self.frames_lost += 1
            self._queue(*entry)
        return ()

    def op_parse_frame(self, param: int | None, inputs: Values) -> Values:
        data = inputs[0]
        assert isinstance(data, bytes)
        parsed = decode(data)
        return (0,) if parsed is None else (parsed[2],)

    def op_process_frame(self, param: int | None, inputs: Values) -> Values:
        body = inputs[1]
        assert isinstance(body, bytes)
        parsed = decode(body)
        if parsed is None:
            return ()
        kind, payload, _ = parsed
        if kind == MESSAGE:
            self.received.append(payload)
            self._queue(ECHO, payload)
        else:
            self.echoes.append(payload)
        return ()
