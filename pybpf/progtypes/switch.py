"""A live software switch: real interfaces as ports, an XDP program deciding every frame.

``pybpf switch --port veth1 --port veth2 --program l2_switch.o`` opens one ``AF_PACKET`` socket
per port (promiscuous), runs the XDP program on every frame received, with ``ingress_ifindex``
set to the port it arrived on, and acts on the verdict the way a switch built on XDP would:

* ``XDP_PASS`` floods the frame to every other port (the "let the host handle it" of a switch);
* ``XDP_TX`` sends it back out of the port it came in on;
* ``XDP_REDIRECT`` sends it to the port the program chose with ``bpf_redirect`` or
  ``bpf_redirect_map`` on a DEVMAP/DEVMAP_HASH (the value is the output ifindex;
  ``BPF_F_BROADCAST`` sends to every port recorded); a target that is not a port is dropped;
* ``XDP_DROP`` and ``XDP_ABORTED`` drop it.

Frames go out as the program left them.  Each port counts received, sent and dropped frames and
bytes.  Device maps that are empty when the switch starts are filled with ifindex -> ifindex for
every port, so a program can redirect to "port ifindex" without set-up.

Two things a user-space switch must repair, because the kernel hands ``AF_PACKET`` sockets
frames as the local stack left them: VLAN tags the driver stripped (``tp_vlan_tci``) are put
back, and TCP/UDP checksums left for offload (``TP_STATUS_CSUMNOTREADY``, veth does this) are
computed, since the frame leaves on another device that will not finish them.
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pybpf.errors import PybpfError

if TYPE_CHECKING:
    from pybpf.object import Program

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_CSUMNOTREADY = 1 << 3
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
_AUXDATA = struct.Struct("=IIIHHHH")
MAX_FRAME = 65536
BURST = 64


def internet_checksum(data: bytes, initial: int = 0) -> int:
    """RFC 1071 checksum (already complemented) of ``data`` plus a partial sum."""
    if len(data) % 2:
        data += b"\0"
    total: int = initial + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def complete_l4_checksum(frame: bytes) -> bytes:
    """Compute the TCP/UDP checksum of an IPv4/IPv6 frame whose checksum was left to the NIC."""
    offset, proto = 12, int.from_bytes(frame[12:14], "big")
    while proto in (0x8100, 0x88A8) and len(frame) >= offset + 6:
        offset += 4
        proto = int.from_bytes(frame[offset : offset + 2], "big")
    l3 = offset + 2
    if proto == 0x0800 and len(frame) >= l3 + 20:
        ihl = (frame[l3] & 0xF) * 4
        total = int.from_bytes(frame[l3 + 2 : l3 + 4], "big")
        l4_proto, l4 = frame[l3 + 9], l3 + ihl
        length = total - ihl
        pseudo = frame[l3 + 12 : l3 + 20] + struct.pack("!BBH", 0, l4_proto, length)
    elif proto == 0x86DD and len(frame) >= l3 + 40:
        l4_proto, l4 = frame[l3 + 6], l3 + 40
        length = int.from_bytes(frame[l3 + 4 : l3 + 6], "big")
        pseudo = frame[l3 + 8 : l3 + 40] + struct.pack("!IxxxB", length, l4_proto)
    else:
        return frame
    field = {6: 16, 17: 6}.get(l4_proto)
    if field is None or length < field + 2 or l4 + length > len(frame):
        return frame
    segment = bytearray(frame[l4 : l4 + length])
    segment[field : field + 2] = b"\0\0"
    check = internet_checksum(pseudo + bytes(segment))
    if l4_proto == 17 and check == 0:
        check = 0xFFFF
    return frame[: l4 + field] + check.to_bytes(2, "big") + frame[l4 + field + 2 :]


@dataclass
class PortCounters:
    rx_packets: int = 0
    rx_bytes: int = 0
    tx_packets: int = 0
    tx_bytes: int = 0
    dropped: int = 0
    errors: int = 0


class Port:
    """One switch port: a promiscuous AF_PACKET socket bound to an interface."""

    def __init__(self, name: str) -> None:
        self.name = name
        try:
            self.ifindex = socket.if_nametoindex(name)
        except OSError:
            raise PybpfError(f"no interface named {name!r}") from None
        self.counters = PortCounters()
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            self.sock.bind((name, ETH_P_ALL))
            mreq = struct.pack("iHH8s", self.ifindex, PACKET_MR_PROMISC, 0, b"")
            self.sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            self.sock.setblocking(False)
        except OSError:
            self.sock.close()
            raise

    def receive(self) -> bytes | None:
        """The next frame received on this port (None when there is none), repaired for sending."""
        while True:
            try:
                data, ancdata, _flags, address = self.sock.recvmsg(MAX_FRAME, socket.CMSG_SPACE(_AUXDATA.size))
            except BlockingIOError:
                return None
            if address[2] == PACKET_OUTGOING:
                continue  # a frame leaving this port (ours or the host's), not one arriving
            for level, kind, raw in ancdata:
                if level == SOL_PACKET and kind == PACKET_AUXDATA and len(raw) >= _AUXDATA.size:
                    status, _len, _snap, _mac, _net, tci, tpid = _AUXDATA.unpack_from(raw)
                    if status & TP_STATUS_VLAN_VALID:
                        tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                        data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
                    if status & TP_STATUS_CSUMNOTREADY:
                        data = complete_l4_checksum(data)
            self.counters.rx_packets += 1
            self.counters.rx_bytes += len(data)
            return data

    def send(self, frame: bytes) -> None:
        try:
            self.sock.send(frame)
        except OSError:
            self.counters.errors += 1
            return
        self.counters.tx_packets += 1
        self.counters.tx_bytes += len(frame)

    def close(self) -> None:
        self.sock.close()


class Switch:
    """Ports plus an XDP program; :meth:`run` forwards until stopped."""

    def __init__(
        self,
        program: Program,
        ports: Sequence[str],
        *,
        verify: bool = True,
        engine: str | None = None,
        fill_devmaps: bool = True,
    ) -> None:
        from pybpf.progtypes.xdp import XdpRunner

        if len(set(ports)) != len(ports) or not ports:
            raise PybpfError("give each port once, at least one")
        self.runner = XdpRunner(program, verify=verify, engine=engine)
        opened: list[Port] = []
        try:
            for name in ports:
                opened.append(Port(name))
        except BaseException:
            for port in opened:
                port.close()
            raise
        self.ports = {p.ifindex: p for p in opened}
        self.actions: Counter[str] = Counter()
        self.unknown_targets = 0
        self._stop = threading.Event()
        if fill_devmaps:
            self._fill_devmaps(program)

    def _fill_devmaps(self, program: Program) -> None:
        from pybpf.progtypes.devmap import DevMap, DevMapHash

        for bpf_map in program.object.maps.values():
            if isinstance(bpf_map, (DevMap, DevMapHash)) and not bpf_map.targets():
                for ifindex in self.ports:
                    if isinstance(bpf_map, DevMapHash) or ifindex < bpf_map.max_entries:
                        bpf_map[ifindex] = ifindex

    def process(self, port: Port, frame: bytes) -> str:
        """Run the program on ``frame`` from ``port`` and forward it; returns the action."""
        result = self.runner.run(frame, ingress_ifindex=port.ifindex)
        action = result.action
        self.actions[action] += 1
        out = result.packet
        if action == "PASS":
            for other in self.ports.values():
                if other is not port:
                    other.send(out)
        elif action == "TX":
            port.send(out)
        elif action == "REDIRECT":
            target = result.redirect
            targets: tuple[int, ...] = ()
            if target is not None:
                targets = target.broadcast or ((target.ifindex,) if target.ifindex is not None else ())
            sent = False
            for ifindex in targets:
                egress = self.ports.get(ifindex)
                if egress is not None:
                    egress.send(out)
                    sent = True
            if not sent:
                self.unknown_targets += 1
                port.counters.dropped += 1
        else:
            port.counters.dropped += 1
        return action

    def poll(self, selector: selectors.BaseSelector, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for frames and forward a burst per ready port."""
        handled = 0
        for key, _ in selector.select(timeout):
            port: Port = key.data
            for _ in range(BURST):
                frame = port.receive()
                if frame is None:
                    break
                self.process(port, frame)
                handled += 1
        return handled

    def run(self, duration: float | None = None, *, report: Any = None, report_every: float = 0.0) -> None:
        """Forward frames until :meth:`stop`, or for ``duration`` seconds; ``report(switch)`` is
        called every ``report_every`` seconds."""
        selector = selectors.DefaultSelector()
        for port in self.ports.values():
            selector.register(port.sock, selectors.EVENT_READ, port)
        deadline = None if duration is None else time.monotonic() + duration
        next_report = time.monotonic() + report_every if report and report_every else None
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                self.poll(selector, 0.1 if deadline is None else max(0.0, min(0.1, deadline - now)))
                if next_report is not None and time.monotonic() >= next_report:
                    report(self)
                    next_report += report_every
        finally:
            selector.close()

    def stop(self) -> None:
        self._stop.set()

    def stats(self) -> dict[str, Any]:
        return {
            "ports": {p.name: {"ifindex": p.ifindex, **asdict(p.counters)} for p in self.ports.values()},
            "actions": dict(sorted(self.actions.items())),
            "redirects_to_unknown_ports": self.unknown_targets,
        }

    def render(self) -> str:
        lines = [f"{'port':<16}{'ifindex':>8}{'rx':>10}{'tx':>10}{'dropped':>9}{'errors':>8}"]
        for p in self.ports.values():
            c = p.counters
            lines.append(f"{p.name:<16}{p.ifindex:>8}{c.rx_packets:>10}{c.tx_packets:>10}{c.dropped:>9}{c.errors:>8}")
        lines.append("actions " + ("  ".join(f"{k} {v}" for k, v in sorted(self.actions.items())) or "-"))
        return "\n".join(lines)

    def close(self) -> None:
        for port in self.ports.values():
            port.close()


# -- command line ---------------------------------------------------------------------------------
def add_switch_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``pybpf switch`` to the CLI's subparsers (``build_parser``'s ``sub``)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "switch",
        help="run an XDP program as a software switch between interfaces",
        description="Forward frames between interfaces (AF_PACKET, needs CAP_NET_RAW) with an XDP program: "
        "PASS floods, TX bounces, REDIRECT (bpf_redirect / a device map) picks the port, DROP drops.",
    )
    p.add_argument("--program", required=True, help="ELF object with the XDP program")
    p.add_argument("--section", help="program (function or section name) when the object has several")
    p.add_argument("--port", action="append", required=True, metavar="IFACE", help="a switch port (repeat)")
    p.add_argument("--engine", default="auto", choices=("interp", "jit", "auto"), help="execution engine")
    p.add_argument("--no-verify", action="store_true", help="run the program unverified (interpreter only)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--stats-every", type=float, default=0.0, metavar="S", help="print port counters every S seconds")
    p.add_argument("--json", action="store_true", help="print the final counters as JSON")
    p.set_defaults(func=cmd_switch)
    return p


def cmd_switch(args: argparse.Namespace) -> int:
    from pybpf.object import load

    obj = load(args.program, engine=args.engine)
    if args.section:
        program = obj.program(args.section)
    elif len(obj.programs) == 1:
        (program,) = obj.programs.values()
    else:
        names = ", ".join(f"{p.name} ({p.section})" for p in obj.programs.values())
        raise PybpfError(f"{args.program} has several programs; choose one with --section: {names}")
    try:
        switch = Switch(program, args.port, verify=not args.no_verify, engine=args.engine)
    except PermissionError as exc:
        raise PybpfError(f"opening AF_PACKET sockets needs CAP_NET_RAW: {exc}") from None
    try:
        switch.run(args.duration, report=lambda s: print(s.render(), file=sys.stderr), report_every=args.stats_every)
    except KeyboardInterrupt:
        pass
    finally:
        switch.close()
    print(json.dumps(switch.stats(), indent=2) if args.json else switch.render())
    return 0


__all__ = ["Port", "PortCounters", "Switch", "add_switch_parser", "cmd_switch", "complete_l4_checksum"]
