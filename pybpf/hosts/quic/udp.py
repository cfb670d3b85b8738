"""The same client→server transfer over real UDP sockets on loopback, with aioquic's asyncio API.

Why: the in-memory link proves behaviour deterministically; this mode proves the anchored
connection also works under aioquic's own event loop integration and real sockets (timings are
then the machine's, not reproducible).  The client (the sender, whose controller matters) is an
:class:`~pybpf.hosts.quic.anchors.AnchoredConnection`; the server is plain aioquic, because
aioquic's ``QuicServer`` builds its connections itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import serve
from aioquic.quic.connection import QuicConnection

from pybpf.errors import PybpfError
from pybpf.hosts.quic.anchors import AnchoredConnection
from pybpf.hosts.quic.dispatch import PythonDispatcher
from pybpf.hosts.quic.harness import Endpoint, TransferResult, client_configuration, server_configuration
from pybpf.hosts.quic.plugins.monitor import Monitor

HOST = "127.0.0.1"


def run_udp_transfer(size: int, client: Endpoint | None = None, *, label: str = "udp",
                     timeout: float = 60.0) -> TransferResult:
    """Send ``size`` bytes from an anchored client to a loopback server; wall-clock timings."""
    if size <= 0:
        raise PybpfError(f"transfer size must be a positive byte count, got {size}")
    endpoint = client or Endpoint(PythonDispatcher([Monitor()]))
    try:
        return asyncio.run(asyncio.wait_for(_transfer(size, endpoint, label), timeout))
    except TimeoutError:
        raise PybpfError(f"the UDP transfer did not complete within {timeout:g} s") from None


async def _transfer(size: int, endpoint: Endpoint, label: str) -> TransferResult:
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[tuple[int, float]] = loop.create_future()

    async def consume(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count = 0
        while chunk := await reader.read(65536):
            count += len(chunk)
        if not finished.done():
            finished.set_result((count, loop.time()))
        writer.write(str(count).encode())
        writer.write_eof()

    tasks: set[asyncio.Task[None]] = set()  # keep the consumers referenced until they finish

    def on_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = loop.create_task(consume(reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await serve(HOST, 0, configuration=server_configuration(), stream_handler=on_stream)
    anchored: list[AnchoredConnection] = []

    def create_protocol(connection: QuicConnection, stream_handler: Any = None) -> QuicConnectionProtocol:
        quic = AnchoredConnection(configuration=connection.configuration, dispatcher=endpoint.dispatcher)
        anchored.append(quic)
        return QuicConnectionProtocol(quic, stream_handler=stream_handler)

    try:
        port = server._transport.get_extra_info("sockname")[1] if server._transport is not None else 0
        config = client_configuration(endpoint.algorithm)
        async with connect(HOST, port, configuration=config, create_protocol=create_protocol) as protocol:
            start = loop.time()
            reader, writer = await protocol.create_stream()
            writer.write(bytes(size))
            writer.write_eof()
            count, end = await finished
            await reader.read()
    finally:
        server.close()

    quic = anchored[0]
    series: dict[str, list[tuple[float, float]]] = {}
    if isinstance(endpoint.dispatcher, PythonDispatcher):
        for plugin in endpoint.dispatcher.plugins:
            if isinstance(plugin, Monitor):
                series = {name: [(t - start, v) for t, v in values] for name, values in plugin.series().items()}
    return TransferResult(
        label=label,
        bytes_requested=size,
        bytes_received=count,
        completed=count == size,
        completion_time=end - start,
        packets_sent=quic.anchors.packets_sent,
        lost_packets=quic.anchors.packets_lost,
        link_drops=0,
        series=series,
    )
