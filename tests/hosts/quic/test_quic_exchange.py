"""Plugin exchange between peers: a server offers eBPF plugins over frame / transport parameter
0x3F5044, the client verifies them against its host and inserts them into its connection."""

from __future__ import annotations

import json

import pytest
from aioquic.quic.connection import QuicConnectionError

from pybpf.hosts.quic.dispatch import Dispatcher
from pybpf.hosts.quic.exchange import (
    MAX_OFFERS,
    PLUGIN_FRAME_TYPE,
    PLUGIN_TRANSPORT_PARAMETER,
    PluginExchange,
    _chunk,
)
from pybpf.hosts.quic.harness import Endpoint, TransferResult, run_transfer
from pybpf.hosts.quic.link import LinkConfig
from pybpf.hosts.quic.plugin_host import MONITOR_ID, EbpfDispatcher, bundled
from pybpf.hosts.quic.table import PYBPF_FRAME_TYPE, PYBPF_TRANSPORT_PARAMETER
from pybpf.plugins import PluginPackage

SIZE = 300_000
LINK = LinkConfig(bandwidth_bps=10_000_000, delay_us=10_000, seed=4)
LOSSY = LinkConfig(bandwidth_bps=10_000_000, delay_us=10_000, loss=0.05, seed=4)
WESTWOOD = "org.pybpf.quic.westwood"


def accept_all(package: PluginPackage) -> bool:
    return True


def exchange_run(offer: list[object], client: PluginExchange | None, link: LinkConfig = LINK,
                 client_dispatcher: Dispatcher | None = None) -> tuple[TransferResult, PluginExchange, Dispatcher | None]:
    server = PluginExchange(offer=offer)  # type: ignore[arg-type]
    if client_dispatcher is None and client is not None:
        client_dispatcher = EbpfDispatcher([], engine="jit", exchange=client)
    result = run_transfer(SIZE, link, client=Endpoint(client_dispatcher),
                          server=Endpoint(EbpfDispatcher([], exchange=server, name="server")))
    assert result.completed and result.bytes_received == SIZE
    return result, server, client_dispatcher


@pytest.mark.parametrize("link", [LINK, LOSSY], ids=["no loss", "5% loss"])
def test_server_offers_plugins_and_the_client_inserts_them(link: LinkConfig) -> None:
    client = PluginExchange(accept=accept_all)
    result, server, dispatcher = exchange_run([bundled("westwood"), bundled("monitor")], client, link)
    assert isinstance(dispatcher, EbpfDispatcher)
    assert [(a.plugin_id, a.inserted, a.reason) for a in client.arrivals] == [(WESTWOOD, True, ""), (MONITOR_ID, True, "")]
    assert set(dispatcher.plugins) == {WESTWOOD, MONITOR_ID} and dispatcher.faults == []
    for arrival, name in zip(client.arrivals, ("westwood", "monitor"), strict=True):
        assert dispatcher.plugin(arrival.plugin_id or "").package.objects == PluginPackage.open(bundled(name)).objects
        assert 0 < arrival.at_us < result.completion_time * 1e6  # inserted while the connection ran
    assert server.peer_limit == client.max_package and server.not_sent == []
    # the inserted controller took over: a different run from aioquic's Reno alone
    reno = run_transfer(SIZE, link, client=Endpoint(EbpfDispatcher([])))
    assert result.trajectory != reno.trajectory
    assert result.series.get("rtt_ms")  # the monitor that arrived recorded the rest of the connection
    if link.loss:
        assert server.chunks_lost > 0  # chunks were lost and sent again
    assert server.chunks_sent >= 13  # ~13.5 KB of zips in packet-sized chunks


def test_the_application_policy_decides_and_verification_refuses_bad_plugins() -> None:
    monitor = PluginPackage.open(bundled("monitor"))
    raw = json.loads(json.dumps(monitor.manifest.raw))
    raw["id"] = "org.example.no-permission"
    for entry in raw["bytecodes"].values():
        entry.pop("permissions")  # it calls the map helpers without the "maps" permission
    unverifiable = PluginPackage.from_zip(_zip(raw, monitor.objects))
    offers: list[object] = [bundled("westwood"), unverifiable, b"not a zip file", bundled("monitor")]
    client = PluginExchange(accept=lambda p: p.id != WESTWOOD)
    _, _, dispatcher = exchange_run(offers, client, LOSSY)
    assert isinstance(dispatcher, EbpfDispatcher)
    outcome = {a.index: a for a in client.arrivals}
    assert sorted(outcome) == [0, 1, 2, 3]
    assert not outcome[0].inserted and "policy" in outcome[0].reason
    assert not outcome[1].inserted and "needs permission 'maps'" in outcome[1].reason
    assert not outcome[2].inserted and outcome[2].plugin_id is None and "not a plugin zip" in outcome[2].reason
    assert outcome[3].inserted
    assert list(dispatcher.plugins) == [MONITOR_ID] and dispatcher.faults == []


def _zip(manifest: dict[str, object], objects: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, data in objects.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("client", ["plain aioquic", "anchored", "ebpf, no exchange", "exchange, no policy"])
def test_nothing_is_sent_to_a_peer_that_takes_no_plugins(client: str) -> None:
    dispatchers: dict[str, Dispatcher | None] = {
        "plain aioquic": None, "anchored": Dispatcher(), "ebpf, no exchange": EbpfDispatcher([]),
        "exchange, no policy": EbpfDispatcher([], exchange=PluginExchange()),
    }
    _, server, dispatcher = exchange_run([bundled("westwood")], None, client_dispatcher=dispatchers[client])
    assert server.peer_limit is None and server.chunks_sent == 0
    if isinstance(dispatcher, EbpfDispatcher):
        assert dispatcher.plugins == {}


def test_an_offer_larger_than_the_peer_takes_is_not_sent() -> None:
    client = PluginExchange(accept=accept_all, max_package=6000)
    _, server, dispatcher = exchange_run([bundled("westwood"), bundled("monitor")], client)
    assert server.peer_limit == 6000
    assert len(server.not_sent) == 1 and server.not_sent[0].startswith(WESTWOOD)  # 7.7 KB
    assert [a.plugin_id for a in client.arrivals] == [MONITOR_ID]  # 5.9 KB
    assert isinstance(dispatcher, EbpfDispatcher) and list(dispatcher.plugins) == [MONITOR_ID]


def test_chunks_are_checked() -> None:
    exchange = PluginExchange(accept=accept_all, max_package=100)

    def consumed(body: bytes) -> int:
        (n,) = exchange.dispatch("parse_frame", (body,))
        assert isinstance(n, int)
        return n

    good = _chunk(0, 50, 10, b"x" * 20)
    assert consumed(good) == len(good) and consumed(good + b"\x01next frame") == len(good)
    for bad in (_chunk(0, 50, 40, b"x" * 20),  # past the end
                _chunk(0, 101, 0, b"x"),  # larger than we take
                _chunk(MAX_OFFERS, 50, 0, b"x"),  # offer number out of range
                _chunk(0, 50, 0, b""),  # empty
                good[:-1], b"\x00\x32"):  # truncated
        assert consumed(bad) == 0, bad
    exchange.dispatch("process_frame", (0, good))
    assert consumed(_chunk(0, 60, 0, b"x")) == 0  # another total for offer 0
    exchange.dispatch("process_frame", (0, good))  # a repeat is fine
    with pytest.raises(QuicConnectionError, match="contradicts"):
        exchange.dispatch("process_frame", (0, _chunk(0, 50, 25, b"y")))


def test_numbers_do_not_clash() -> None:
    assert PLUGIN_FRAME_TYPE == PLUGIN_TRANSPORT_PARAMETER == 0x3F5044
    assert PLUGIN_FRAME_TYPE != PYBPF_FRAME_TYPE and PLUGIN_TRANSPORT_PARAMETER != PYBPF_TRANSPORT_PARAMETER
    assert PLUGIN_FRAME_TYPE > 0x3F  # above the standards-action range
    assert (PLUGIN_TRANSPORT_PARAMETER - 27) % 31 != 0  # not a reserved greasing parameter
    assert (0x3F5043 - 27) % 31 == 0  # which is why 0x3F5043 was skipped
