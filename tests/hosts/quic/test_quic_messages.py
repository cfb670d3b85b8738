"""The MESSAGE / ECHO extension frame as a C plugin on both ends: the same frames and runs as the
Python reference, interop with it in both directions, loss, and peers without the extension.

Every run is on the deterministic simulated link, so equalities are exact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pybpf.errors import PybpfError
from pybpf.hosts.quic import messages
from pybpf.hosts.quic.dispatch import Dispatcher, PythonDispatcher
from pybpf.hosts.quic.harness import Endpoint, Transfer, TransferResult
from pybpf.hosts.quic.link import LinkConfig
from pybpf.hosts.quic.messages import MESSAGE_ID, MessageChannel, encode_record
from pybpf.hosts.quic.plugin_host import HEADER, PLUGINS_DIR, EbpfDispatcher, bundled, quic_host
from pybpf.hosts.quic.plugins.frames import (
    ECHO,
    MAX_ADVERTISEMENT,
    MAX_PAYLOAD,
    MESSAGE,
    MessageExtension,
    decode,
    encode,
)
from pybpf.hosts.quic.table import PYBPF_FRAME_TYPE
from pybpf.plugins import FaultKind
from pybpf.plugins.build import build

LOSSY = LinkConfig(bandwidth_bps=10_000_000, delay_us=10_000, loss=0.05, seed=4)
SIZE = 200_000
FIRST = [b"hello", b"from the client", b"x" * 100, b"y" * MAX_PAYLOAD]
"""Queued before the handshake: sent once the server's transport parameters arrive."""
LATER = [b"sent while the transfer runs", b"z" * 63, b"w" * 64]


Side = MessageChannel | MessageExtension


@dataclass
class End:
    """One end of a connection running the extension: its dispatcher and the application's handle."""

    endpoint: Endpoint
    app: Side


def c_end(first: Sequence[bytes] = (), engine: str = "jit") -> End:
    dispatcher = EbpfDispatcher([bundled("message")], engine=engine)
    return End(Endpoint(dispatcher), MessageChannel(dispatcher, first))


def python_end(first: Sequence[bytes] = ()) -> End:
    plugin = MessageExtension(list(first))
    return End(Endpoint(PythonDispatcher([plugin])), plugin)


def run(client: End, server: End, *, later: Sequence[bytes] = LATER, link: LinkConfig = LOSSY,
        server_sends: Sequence[bytes] = (b"from the server",)) -> TransferResult:
    """A transfer; once the handshake is done the client sends ``later`` and the server
    ``server_sends`` (at the same clock step whichever implementation runs)."""
    transfer = Transfer(SIZE, link, client=client.endpoint, server=server.endpoint, linger=1.0)
    sent = False
    while not transfer.stopped:
        transfer.step(transfer.next_time_us())
        if not sent and transfer.now_us >= 150_000:
            sent = True
            for message in later:
                client.app.send(message)
            for message in server_sends:
                server.app.send(message)
    assert sent
    return transfer.result()


def outcome(client: End, server: End) -> dict[str, object]:
    c, s = client.app, server.app
    return {
        "server received": s.received, "client echoes": c.echoes,
        "client received": c.received, "server echoes": s.echoes,
        "sent": (c.frames_sent, s.frames_sent), "lost": (c.frames_lost, s.frames_lost),
        "supports": (c.peer_supports, s.peer_supports),
    }


@pytest.fixture(scope="module")
def reference() -> tuple[TransferResult, dict[str, object]]:
    """Both ends running the Python reference plugin."""
    client, server = python_end(FIRST), python_end()
    result = run(client, server)
    return result, outcome(client, server)


def test_c_extension_is_the_python_reference(reference: tuple[TransferResult, dict[str, object]]) -> None:
    """C on both ends: the same messages, echoes, frame counts -- and, the frames being the same
    bytes, the same run (every window, the completion time)."""
    client, server = c_end(FIRST), c_end()
    result = run(client, server)
    python_result, python_outcome = reference
    got = outcome(client, server)
    assert got == python_outcome
    assert result.trajectory == python_result.trajectory and result.completion_time == python_result.completion_time
    # the round trip, under loss: every message arrived once and came back (in another order
    # when a frame was lost and sent again)
    assert sorted(got["server received"]) == sorted(got["client echoes"]) == sorted([*FIRST, *LATER])  # type: ignore[type-var]
    assert got["server received"] != [*FIRST, *LATER]
    assert got["client received"] == got["server echoes"] == [b"from the server"]
    assert sum(got["lost"]) > 0  # type: ignore[arg-type]  # frames were lost and sent again
    assert got["supports"] == (True, True)
    for end in (client, server):
        assert isinstance(end.endpoint.dispatcher, EbpfDispatcher) and end.endpoint.dispatcher.faults == []
        stats = end.app.stats()  # type: ignore[union-attr]
        assert stats.queued == 0 and stats.echoes_dropped == 0


@pytest.mark.parametrize("client_kind,server_kind", [("c", "python"), ("python", "c")])
def test_c_and_python_ends_interoperate(
    client_kind: str, server_kind: str, reference: tuple[TransferResult, dict[str, object]]
) -> None:
    make: dict[str, Callable[..., End]] = {"c": c_end, "python": python_end}
    client, server = make[client_kind](FIRST), make[server_kind]()
    result = run(client, server)
    assert outcome(client, server) == reference[1]
    assert result.trajectory == reference[0].trajectory


def test_round_trip_on_the_interpreter_too() -> None:
    client, server = c_end(FIRST, engine="interp"), c_end(engine="interp")
    run(client, server, link=LinkConfig(bandwidth_bps=10_000_000, delay_us=10_000, loss=0.1, seed=7))
    assert sorted(client.app.echoes) == sorted(server.app.received) == sorted([*FIRST, *LATER])
    assert client.app.received == [b"from the server"] and client.app.frames_lost + server.app.frames_lost > 0


@pytest.mark.parametrize("peer", ["plain aioquic", "anchored, no plugin"])
def test_a_peer_without_the_extension_never_gets_the_frame(peer: str) -> None:
    """The client queues messages; the server never advertises the extension, so nothing is
    sent (an unknown frame would make the server close the connection: the harness raises)."""
    client = c_end(FIRST)
    server = Endpoint(None) if peer == "plain aioquic" else Endpoint(Dispatcher())
    transfer = Transfer(SIZE, LOSSY, client=client.endpoint, server=server, linger=0.5)
    while not transfer.stopped:
        transfer.step(transfer.next_time_us())
        if transfer.sender._handshake_complete and client.app.written == len(FIRST):
            client.app.send(b"one more, after the handshake")
    assert transfer.result().completed
    stats = client.app.stats()  # type: ignore[union-attr]
    assert not stats.peer_supports and stats.frames_sent == 0
    assert stats.queued == len(FIRST) + 1  # all still waiting
    assert client.app.echoes == []


def test_a_peer_that_did_not_advertise_keeps_the_c_server_quiet() -> None:
    """The C server answers nothing to a client without the extension."""
    server = c_end()
    transfer = Transfer(SIZE, LOSSY, client=Endpoint(None), server=server.endpoint, linger=0.5)
    server.app.send(b"queued on the server")
    while not transfer.stopped:
        transfer.step(transfer.next_time_us())
    assert transfer.result().completed
    assert server.app.frames_sent == 0 and not server.app.peer_supports


@pytest.mark.parametrize("kind,payload", [(7, b"bad kind"), (MESSAGE, b"q" * (MAX_PAYLOAD + 1))])
@pytest.mark.parametrize("server_kind", ["c", "python"])
def test_a_malformed_frame_closes_the_connection(kind: int, payload: bytes, server_kind: str) -> None:
    """A frame with an unknown kind or a too long payload is FRAME_ENCODING_ERROR on either end."""
    client = python_end()
    assert isinstance(client.app, MessageExtension)
    client.app.outbox.append((kind, payload))
    server = c_end() if server_kind == "c" else python_end()
    with pytest.raises(PybpfError, match=r"closed during the transfer.*server.*Malformed extension frame"):
        run(client, server, later=(), server_sends=())


def test_reserve_frame_with_a_bad_count_is_the_plugin_s_fault(tmp_path: Path, need_clang: Callable[[], None]) -> None:
    """reserve_frame is a host service plugins call at any time; asking for 0 frames faults the
    caller (bad_argument), which is removed, and the connection goes on."""
    need_clang()
    plugin = tmp_path / "greedy"
    plugin.mkdir()
    (plugin / "greedy.c").write_text(
        "#include <pybpf/plugin.h>\n"
        f"#include \"{HEADER}\"\n"
        'SEC("plugin/packet_received") __u64 seen(void *ctx) {\n'
        "  __u64 args[1] = {0};\n"
        "  return pb_call_op(PQUIC_OP_RESERVE_FRAME, PQUIC_FRAME_TYPE, args, sizeof(args));\n}\n"
    )
    (plugin / "manifest.json").write_text(
        '{"id": "greedy", "version": "1", "bytecodes": {"seen": {"object": "greedy.o",'
        ' "operation": "packet_received", "mode": "post", "permissions": ["call"]}}}'
    )
    dispatcher = EbpfDispatcher([bundled("message"), build(plugin)], engine="interp")
    client = End(Endpoint(dispatcher), MessageChannel(dispatcher, FIRST))
    run(client, c_end(), later=(), server_sends=())
    [fault] = dispatcher.faults
    assert fault.plugin == "greedy" and fault.kind is FaultKind.BAD_ARGUMENT and "count" in fault.message
    assert fault.operation == "packet_received" and list(dispatcher.plugins) == [MESSAGE_ID]
    assert sorted(client.app.echoes) == sorted(FIRST)  # the extension was not disturbed


# -- the codec, on the plugin alone ----------------------------------------------------------------
BODIES = [
    encode(MESSAGE, b""), encode(MESSAGE, b"abc"), encode(ECHO, b"e" * 63), encode(ECHO, b"e" * 64),
    encode(MESSAGE, b"m" * MAX_PAYLOAD), encode(MESSAGE, b"abc") + b"\x01\x02trailing frames",
    b"\x40\x00\x40\x03abc",  # non-minimal varints are still varints
    b"\xc0\x00\x00\x00\x00\x00\x00\x01\x80\x00\x00\x02hi",  # 8- and 4-byte varints
    b"\x02\x00", b"\x00\x05ab", b"\x00", b"", b"\x40", b"\x00\x44\x01" + b"q" * 0x401,
    b"\x80\x00\x00",  # truncated varint
]


def test_c_parser_agrees_with_the_python_codec() -> None:
    session = quic_host(engine="interp").endpoint("codec").session(None)
    session.insert(bundled("message"))
    for body in BODIES:
        parsed = decode(body)
        consumed = session.invoke("parse_frame", body, param=PYBPF_FRAME_TYPE).outputs[0]
        assert consumed == (0 if parsed is None else parsed[2]), body
        if parsed is not None:
            session.invoke("process_frame", 0, body[:consumed], param=PYBPF_FRAME_TYPE)
    channel = MessageChannel(_Bound(session))  # type: ignore[arg-type]
    valid = [p for p in (decode(b) for b in BODIES) if p is not None]
    assert channel.received == [payload for kind, payload, _ in valid if kind == MESSAGE]
    assert channel.echoes == [payload for kind, payload, _ in valid if kind == ECHO]
    # every MESSAGE got its ECHO queued, unsent: the peer never advertised the extension
    assert channel.stats().queued == len(channel.received)


def test_c_transport_parameter_parser_agrees_with_the_python_reference() -> None:
    """Advertisements, valid or not, in one sequence (a malformed one leaves the state as it was)."""
    session = quic_host(engine="interp").endpoint("tp").session(None)
    session.insert(bundled("message"))
    channel = MessageChannel(_Bound(session))  # type: ignore[arg-type]
    reference = MessageExtension()
    advertised = session.invoke("write_transport_parameter", param=PYBPF_FRAME_TYPE).outputs[0]
    assert advertised == reference.op_write_transport_parameter(PYBPF_FRAME_TYPE, ())[0] == b"\x80\x3f\x50\x42"
    seen = []
    for value in (b"\x01", advertised, b"\x80\x3f\x50", b"\x07\x40\x25", b"\x05" + advertised + b"\x1f",
                  b"", b"\xc0\x00\x00\x00\x00\x3f\x50\x42", b"\x01", b"\x01" * 124 + advertised,
                  b"\x01", b"\x01" * 125 + advertised):  # 128 bytes: parsed; 129: malformed, ignored
        session.invoke("process_transport_parameter", value, param=PYBPF_FRAME_TYPE)
        reference.op_process_transport_parameter(PYBPF_FRAME_TYPE, (value,))
        assert channel.peer_supports == reference.peer_supports, value
        seen.append(channel.peer_supports)
    assert seen == [False, True, True, False, True, False, True, False, True, False, False]


class _Bound:
    """The two things MessageChannel reads from a dispatcher, for a bare framework session."""

    def __init__(self, session: object) -> None:
        self.session = session

    def plugin(self, plugin_id: str) -> object:
        return self.session.plugin(plugin_id)  # type: ignore[attr-defined]

    def when_bound(self, callback: Callable[[object], None]) -> None:
        callback(self)


def test_limits_match_between_the_c_source_and_python() -> None:
    source = (PLUGINS_DIR / "message" / "message.c").read_text()

    def define(name: str) -> int:
        match = re.search(rf"^#define {name} (\d+)", source, re.M)
        assert match, name
        return int(match.group(1))

    assert define("MAX_PAYLOAD") == MAX_PAYLOAD and define("TP_MAX") == MAX_ADVERTISEMENT
    assert define("PAYLOAD_OFFSET") == messages.PAYLOAD_OFFSET
    assert (define("OUTBOX"), define("INBOX"), define("SLOTS")) == (messages.OUTBOX, messages.INBOX, messages.SLOTS)
    assert len(encode_record(MESSAGE, b"")) == 8 + messages.DATA_SIZE
    with pytest.raises(PybpfError, match="at most 1024 bytes"):
        MessageChannel(EbpfDispatcher([bundled("message")])).send(b"q" * (MAX_PAYLOAD + 1))
    with pytest.raises(PybpfError, match="at most 1024 bytes"):
        MessageExtension().send(b"q" * (MAX_PAYLOAD + 1))


def test_a_full_send_queue_holds_messages_back_until_acks_free_slots() -> None:
    """128 messages fill the plugin's slots, 64 more wait in the outbox, the next is refused; all
    192 are delivered as acknowledgements free slots."""
    many = [f"message {i}".encode() for i in range(messages.SLOTS + messages.OUTBOX)]
    client, server = c_end(many), c_end()
    with pytest.raises(PybpfError, match="outbox is full"):
        client.app.send(b"one too many")  # before the connection exists
    transfer = Transfer(SIZE, LinkConfig(bandwidth_bps=10_000_000, delay_us=10_000, seed=1),
                        client=client.endpoint, server=server.endpoint, linger=2.0)
    assert client.app.stats().queued == messages.SLOTS  # type: ignore[union-attr]
    with pytest.raises(PybpfError, match="outbox is full"):
        client.app.send(b"one too many")  # and once it runs
    while not transfer.stopped:
        transfer.step(transfer.next_time_us())
        server.app.poll()  # keep up with the inbox ring
        client.app.poll()
    assert server.app.received == many
    assert sorted(client.app.echoes) == sorted(many)
    assert client.app.stats().outbox_taken == len(many)  # type: ignore[union-attr]


def test_plugin_id_and_bundle() -> None:
    assert MESSAGE_ID == "org.pybpf.quic.message"
    assert Path(bundled("message")).is_file()
