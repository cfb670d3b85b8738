"""The application's side of the eBPF message extension (bundled plugin ``message``).

The plugin (``plugins/c/message/message.c``) implements the MESSAGE / ECHO frame 0x3F5042 and its
transport parameter exactly like the Python reference :class:`~pybpf.hosts.quic.plugins.frames.MessageExtension`
(same frames, byte for byte).  The application talks to it through the plugin's maps, all arrays
of one record layout, ``struct message {u32 kind; u32 len; u8 data[1056]}`` with the payload at
``data[16:16 + len]``:

* **sending**: write the message into slot ``n % 64`` of ``outbox``, set ``outbox_head[0] = n + 1``
  (``n`` counts the messages written), then call the plugin's operation ``message_flush``: it moves
  the new messages into its send queue (at most 128 messages queued or in flight; a message that
  finds no free slot waits in the outbox until an acknowledgement frees one) and asks the host for
  a frame for each once the peer has advertised the extension;
* **receiving**: every MESSAGE and ECHO that arrives is written to slot ``n % 256`` of ``inbox``,
  ``n`` being ``stats.inbox_written``; a reader that falls more than 256 records behind loses the
  oldest (counted in :attr:`MessageChannel.overwritten`);
* ``stats``: ``peer_supports, frames_sent, frames_lost, outbox_taken, inbox_written,
  echoes_dropped, rejected, queued`` (u64 each).

:class:`MessageChannel` does all of it for one connection, with the attribute names of the
Python reference (``send``, ``received``, ``echoes``, ``peer_supports``, ``frames_sent``,
``frames_lost``), so either can stand on each end of a connection.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from pybpf.errors import PybpfError
from pybpf.hosts.quic.plugin_host import EbpfDispatcher
from pybpf.hosts.quic.plugins.frames import ECHO, MAX_PAYLOAD, MESSAGE, check_payload
from pybpf.plugins import PluginInstance

MESSAGE_ID = "org.pybpf.quic.message"
FLUSH_OPERATION = "message_flush"
PAYLOAD_OFFSET = 16
DATA_SIZE = PAYLOAD_OFFSET + MAX_PAYLOAD + 16
OUTBOX = 64
INBOX = 256
SLOTS = 128
_RECORD_HEAD = struct.Struct("<II")
_U64 = struct.Struct("<Q")
_STATS = struct.Struct("<8Q")


@dataclass(frozen=True)
class MessageStats:
    """The plugin's ``stats`` map."""

    peer_supports: bool
    frames_sent: int
    frames_lost: int
    outbox_taken: int
    inbox_written: int
    echoes_dropped: int
    rejected: int
    queued: int


def encode_record(kind: int, payload: bytes) -> bytes:
    """One ``struct message`` as the maps hold it."""
    check_payload(payload)
    data = bytes(PAYLOAD_OFFSET) + payload
    return _RECORD_HEAD.pack(kind, len(payload)) + data + bytes(DATA_SIZE - len(data))


def decode_record(raw: bytes) -> tuple[int, bytes]:
    kind, length = _RECORD_HEAD.unpack_from(raw)
    start = _RECORD_HEAD.size + PAYLOAD_OFFSET
    return kind, bytes(raw[start:start + min(length, MAX_PAYLOAD)])


class MessageChannel:
    """Send messages through the eBPF extension on one connection and collect what arrives.

    ``messages`` are queued as the connection starts (before the peer's transport parameters:
    they leave once the peer advertised the extension), like ``MessageExtension(messages)``.
    :meth:`send` works before the connection exists (the message is queued when it is built)
    and at any time after.  ``received`` / ``echoes`` read the inbox first, so they are current.
    """

    def __init__(self, dispatcher: EbpfDispatcher, messages: Iterable[bytes] = ()) -> None:
        self.dispatcher = dispatcher
        self._received: list[bytes] = []
        self._echoes: list[bytes] = []
        self.next_index = 0
        self.overwritten = 0
        self.written = 0
        self._deferred = 0
        for message in messages:
            self.send(message)

    # -- the plugin and its maps -------------------------------------------------------------
    @property
    def plugin(self) -> PluginInstance:
        return self.dispatcher.plugin(MESSAGE_ID)

    def stats(self) -> MessageStats:
        values = _STATS.unpack_from(self.plugin.maps["stats"][0])
        return MessageStats(bool(values[0]), *values[1:])

    # -- sending -----------------------------------------------------------------------------
    def send(self, payload: bytes) -> None:
        """Queue a MESSAGE for the peer (it echoes it back)."""
        record = encode_record(MESSAGE, payload)
        if self.dispatcher.session is None:
            # the plugin starts empty: its slots, then its outbox, take the first messages
            if self._deferred >= SLOTS + OUTBOX:
                raise PybpfError(f"the message plugin's outbox is full ({SLOTS + OUTBOX} messages queued "
                                 "before the connection)")
            self._deferred += 1
        self.dispatcher.when_bound(lambda d: self._send_now(record))

    def _send_now(self, record: bytes) -> None:
        plugin = self.plugin
        if self.written - self.stats().outbox_taken >= OUTBOX:
            raise PybpfError(f"the message plugin's outbox is full ({OUTBOX} messages waiting for a free slot)")
        plugin.maps["outbox"][self.written % OUTBOX] = record
        self.written += 1
        plugin.maps["outbox_head"][0] = _U64.pack(self.written)
        session = self.dispatcher.session
        assert session is not None  # when_bound only runs once the connection exists
        session.call(FLUSH_OPERATION)

    # -- receiving ---------------------------------------------------------------------------
    def poll(self) -> int:
        """Read the records written to the inbox since the last poll; returns how many."""
        session = self.dispatcher.session
        if session is None or MESSAGE_ID not in session.plugins:
            return 0  # not connected yet, or removed (e.g. after a fault)
        inbox = self.plugin.maps["inbox"]
        head = self.stats().inbox_written
        if head - self.next_index > INBOX:
            self.overwritten += head - INBOX - self.next_index
            self.next_index = head - INBOX
        read = 0
        while self.next_index < head:
            kind, payload = decode_record(inbox[self.next_index % INBOX])
            (self._received if kind == MESSAGE else self._echoes).append(payload)
            self.next_index += 1
            read += 1
        return read

    @property
    def received(self) -> list[bytes]:
        """The peer's MESSAGE payloads, in arrival order."""
        self.poll()
        return list(self._received)

    @property
    def echoes(self) -> list[bytes]:
        """The ECHOes of our messages, in arrival order."""
        self.poll()
        return list(self._echoes)

    @property
    def peer_supports(self) -> bool:
        return self.stats().peer_supports

    @property
    def frames_sent(self) -> int:
        return self.stats().frames_sent

    @property
    def frames_lost(self) -> int:
        return self.stats().frames_lost


__all__ = ["ECHO", "FLUSH_OPERATION", "MESSAGE", "MESSAGE_ID", "MessageChannel", "MessageStats",
           "decode_record", "encode_record"]
