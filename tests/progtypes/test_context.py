"""Context buffers follow the platform layout and the shadow pointer contract, in both run modes."""

from __future__ import annotations

import struct

import pytest

import pybpf.object as bpfobj
from pybpf.errors import MemoryAccessError
from pybpf.progtypes.context import ContextBuffer, ShadowMemory
from pybpf.progtypes.platform import linux_prog_types
from pybpf.progtypes.skb import SkbRunner
from pybpf.progtypes.xdp import XDP_PACKET_HEADROOM, XdpRunner
from pybpf.verifier import VerifierError

from .support import control, load_example


@pytest.mark.parametrize("type_name", ["xdp", "sched_cls", "socket_filter"])
def test_context_buffer_has_the_struct_and_its_shadows(type_name: str) -> None:
    layout = linux_prog_types()[type_name].ctx
    ctx = ContextBuffer(layout, guard=False)
    assert ctx.region.size == layout.total_size > layout.size
    for f in layout.pointer_fields():
        address = 0x7F12_3456_7890 + f.offset
        ctx.set_pointer(f.name, address)
        assert struct.unpack_from("<I", ctx.buf, f.offset)[0] == address & 0xFFFF_FFFF
        assert f.shadow_offset is not None
        assert struct.unpack_from("<Q", ctx.buf, f.shadow_offset)[0] == address
    guarded = ContextBuffer(layout, guard=True)
    assert (guarded.region.lo, guarded.region.hi) == (0, layout.size)  # shadows invisible unverified


def test_xdp_context_describes_the_frame(frames: list[bytes]) -> None:
    obj = load_example("xdp_firewall")
    runner = XdpRunner(obj.program("firewall"))
    runner.load(frames[0], ingress_ifindex=7, rx_queue_index=3)
    state = runner.state
    base = state.packet.base
    shadow = dict(data=24, data_end=32, data_meta=40)
    expected = dict(data=base + XDP_PACKET_HEADROOM, data_end=base + XDP_PACKET_HEADROOM + len(frames[0]))
    expected["data_meta"] = expected["data"]
    for name, address in expected.items():
        assert state.ctx.get(name) == address & 0xFFFF_FFFF
        assert struct.unpack_from("<Q", state.ctx.buf, shadow[name])[0] == address
    assert (state.ctx.get("ingress_ifindex"), state.ctx.get("rx_queue_index"), state.ctx.get("egress_ifindex")) == (
        7, 3, 0,
    )


def test_shadows_follow_the_packet_when_helpers_move_it(ops: bpfobj.BpfObject, frames: list[bytes]) -> None:
    runner = XdpRunner(ops.program("xdp_ops"))
    result = runner.run(control(frames[0], op=7, delta=-20, arg=128 + 6))  # head -20, then tail +6
    assert result.retval == 0
    p = runner.state.packet
    assert (p.data, p.end) == (XDP_PACKET_HEADROOM - 20, XDP_PACKET_HEADROOM + len(frames[0]) + 6)
    ctx = runner.state.ctx
    assert struct.unpack_from("<QQQ", ctx.buf, 24) == (p.base + p.data, p.base + p.end, p.base + p.meta)


def test_verified_runs_execute_the_rewritten_program() -> None:
    obj = load_example("xdp_firewall")
    program = obj.program("firewall")
    runner = XdpRunner(program)
    result = runner.runtime.results["firewall"]
    engine = runner.runtime.engine_for(program)
    assert engine.insns == list(result.rewritten) != list(program.definition.insns)
    assert not isinstance(runner.runtime.memory, ShadowMemory)


def test_unverified_runs_see_real_pointers_through_the_memory_hook(frames: list[bytes]) -> None:
    obj = load_example("xdp_firewall")
    runner = XdpRunner(obj.program("firewall"), verify=False)
    memory = runner.runtime.memory
    assert isinstance(memory, ShadowMemory)
    runner.load(frames[0])
    p = runner.state.packet
    ctx = runner.state.ctx.base
    assert memory.ld4(ctx + 0, 0) == p.base + p.data  # the 64-bit shadow, not the low half
    assert memory.load(ctx + 4, 4) == p.base + p.end
    assert memory.ld4(ctx + 12, 0) == 1  # other fields read as stored
    other = load_example("xdp_firewall")
    for o in (obj, other):
        o.maps["blocked_ports"][struct.pack("<H", 22)] = bytes(8)
    verified = XdpRunner(other.program("firewall"))
    assert [runner.run(f).action for f in frames] == [verified.run(f).action for f in frames]
    assert obj.maps["blocked_ports"].items() == other.maps["blocked_ports"].items()


def test_unverified_programs_fault_outside_the_packet(ops: bpfobj.BpfObject, frames: list[bytes]) -> None:
    with pytest.raises(VerifierError):
        XdpRunner(ops.program("xdp_oob"))
    runner = XdpRunner(ops.program("xdp_oob"), verify=False)
    with pytest.raises(MemoryAccessError, match="below the live part of packet"):
        runner.run(frames[0])


def test_skb_context_pointers_and_lengths(frames: list[bytes]) -> None:
    obj = load_example("socket_filter")
    for l2 in (True, False):
        runner = SkbRunner(obj.program("ssh_or_http"), l2=l2)
        runner.load(frames[0])
        p = runner.state.packet
        ctx = runner.state.ctx
        assert ctx.get("len") == len(frames[0]) - (0 if l2 else 14) == p.end - p.data
        assert struct.unpack_from("<QQQ", ctx.buf, 192) == (p.base + p.data, p.base + p.end, p.base + p.data)
        assert ctx.get("protocol") == 0x0008  # htons(ETH_P_IP) as the kernel stores it
