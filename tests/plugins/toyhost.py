"""A small reference host: a toy reliable-transfer protocol with a few anchors.

Fields: ``cwnd`` (read-write), ``rtt`` (read-only), ``acked`` (read-write), ``total`` (an
endpoint field, read-write).  Operations:

=====  ================  ======================  ==========================================
id     name              inputs -> outputs       default
=====  ================  ======================  ==========================================
1      on_ack            acked -> cwnd           cwnd += acked; returns cwnd
2      process_frame     length (parametrised)   returns 1000 * param + length (param None: 0)
3      compute           a, b                    a + b
4      schedule          (none)                  returns 42
5      encode            data -> encoded         output = data reversed, returns its length
6      hook              x                       returns x + 1
7      outer             x                       calls ``hook`` from Python, returns its result
=====  ================  ======================  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pybpf.plugins import Host, Invocation


@dataclass
class Conn:
    cwnd: int = 10
    rtt: int = 25
    acked: int = 0
    trace: list[str] = field(default_factory=list)


@dataclass
class EndpointState:
    total: int = 0


def make_host(**options: Any) -> Host:
    host = Host("toy", **options)
    host.field(1, "cwnd", lambda s: s.state.cwnd, lambda s, v: setattr(s.state, "cwnd", v))
    host.field(2, "rtt", lambda s: s.state.rtt)
    host.field(3, "acked", lambda s: s.state.acked, lambda s, v: setattr(s.state, "acked", v))
    host.field(4, "total", lambda e: e.state.total, lambda e, v: setattr(e.state, "total", v), scope="endpoint")

    @host.anchor(1, inputs=("acked",), outputs=("cwnd",))
    def on_ack(inv: Invocation) -> int:
        conn: Conn = inv.session.state
        conn.trace.append("default:on_ack")
        conn.cwnd += int(inv.inputs[0])
        inv.outputs[0] = conn.cwnd
        return conn.cwnd

    @host.anchor(2, inputs=("length",), parametrised=True)
    def process_frame(inv: Invocation) -> int:
        inv.session.state.trace.append(f"default:process_frame[{inv.param}]")
        return 1000 * (inv.param or 0) + int(inv.inputs[0])

    @host.anchor(3, inputs=("a", "b"))
    def compute(inv: Invocation) -> int:
        inv.session.state.trace.append("default:compute")
        return int(inv.inputs[0]) + int(inv.inputs[1])

    @host.anchor(4)
    def schedule(inv: Invocation) -> int:
        inv.session.state.trace.append("default:schedule")
        return 42

    @host.anchor(5, inputs=("data",), outputs=("encoded",))
    def encode(inv: Invocation) -> int:
        data = bytes(inv.inputs[0])  # type: ignore[arg-type]
        inv.outputs[0] = data[::-1]
        return len(data)

    @host.anchor(6, inputs=("x",))
    def hook(inv: Invocation) -> int:
        inv.session.state.trace.append("default:hook")
        return int(inv.inputs[0]) + 1

    @host.anchor(7, inputs=("x",))
    def outer(inv: Invocation) -> int:
        return inv.session.call("hook", inv.inputs[0])

    return host


def new_session(host: Host, endpoint: Any = None) -> Any:
    ep = endpoint if endpoint is not None else host.endpoint("ep", EndpointState())
    return ep.session(Conn())
