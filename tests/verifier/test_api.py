"""The verifier's public API: errors people can read, results, the context rewrite, platforms."""

from __future__ import annotations

import pytest

from pybpf.errors import PybpfError
from pybpf.helpers.prototypes import Arg, ArgKind, HelperProto, RetKind
from pybpf.isa.assembler import assemble
from pybpf.isa.disassembler import disassemble_one
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import Kind, find_form
from pybpf.progtypes.platform import (
    ContextLayout,
    CtxField,
    Platform,
    ProgTypeSpec,
    RegionSpec,
    ValueKind,
    linux_platform,
)
from pybpf.progtypes.sections import ProgType
from pybpf.verifier import VerifierError, VerifierOptions, verify
from pybpf.verifier.mapinfo import MapInfo
from pybpf.verifier.source import parse_asm

HASH = MapInfo(0, "counts", 1, 4, 8, 16)

NULL_DEREF = """
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = map_idx(0) ll
call 1
r2 = 255
r0 = *(u64 *)(r0 + 0)
exit
"""


def test_error_names_index_instruction_reason_and_state() -> None:
    with pytest.raises(VerifierError) as info:
        verify(assemble(NULL_DEREF), "syscall", maps=[HASH])
    err = info.value
    assert isinstance(err, PybpfError)
    assert err.index == 8
    assert err.reason == "R0 invalid mem access 'map_value_or_null'"
    assert err.insn == "r0 = *(u64 *)(r0 + 0)"
    text = str(err)
    assert text.startswith("instruction 8 (r0 = *(u64 *)(r0 + 0)): R0 invalid mem access 'map_value_or_null'")
    assert "R0=map_value_or_null(id=1,off=0,ks=4,vs=8)" in text


def test_state_notation_of_bounded_scalars() -> None:
    text = """
    r2 = *(u8 *)(r1 + 0)
    r3 = r10
    r3 += r2
    *(u8 *)(r3 + 0) = 1
    r0 = 0
    exit
    """
    with pytest.raises(VerifierError) as info:
        verify(assemble(text), "syscall")
    state = info.value.state
    assert "R3=fp(off=0,smin=0,smax=255,var_off=(0x0; 0xff))" in state or "umax=255" in state
    assert "var_off=(0x0; 0xff)" in state


def test_log_level_two_records_every_instruction() -> None:
    text = "r0 = 0\nr1 = 5\nif r1 > 3 goto +1\nr0 = 1\nexit"
    result = verify(assemble(text), "socket_filter", log_level=2)
    lines = result.log.splitlines()
    assert lines[0].startswith("0: (b7) r0 = 0")
    assert "R1=ctx(off=0)" in lines[0] and "R10=fp0" in lines[0]
    assert any(line.startswith("2: (25) if r1 > 3 goto +1") and "R1=5" in line for line in lines)
    assert not any(line.startswith("3:") for line in lines)  # r1 = 5 > 3: the fall-through is dead


def test_log_level_two_on_rejection() -> None:
    with pytest.raises(VerifierError) as info:
        verify(assemble("r0 = r3\nexit"), "socket_filter", log_level=2)
    assert "0: (bf) r0 = r3" in info.value.log and "R3 !read_ok" in info.value.log


def test_result_fields() -> None:
    prog = parse_asm(
        """
        ; map counts hash key=4 value=8 entries=16
        r6 = 0
        loop:
        *(u32 *)(r10 - 4) = r6
        r2 = r10
        r2 += -4
        r1 = map(counts) ll
        call bpf_map_lookup_elem
        if r0 == 0 goto next
        r1 = *(u64 *)(r0 + 0)
        next:
        r6 += 1
        if r6 < 4 goto loop
        r0 = 0
        exit
        """,
        linux_platform().prototypes,
    )
    result = verify(prog.insns, "socket_filter", maps=prog.maps)
    assert result.accepted and result.prog_type == "socket_filter"
    assert result.instructions == len(prog.insns)
    assert result.insns_processed > result.instructions  # the loop runs four times
    assert result.states_explored > 0 and result.peak_states > 0
    assert result.time_s > 0
    assert result.safe == {1, 8}  # the stack store and the map value load
    assert result.proof[8].regions == {"map_value"}
    assert result.proof[1].regions == {"stack"} and result.proof[1].visits == 4
    assert result.stack_depth == {0: 4}
    summary = result.summary()
    assert summary["verdict"] == "accept" and summary["safe_accesses"] == 2


def _ldx(width: int) -> int:
    return find_form(Kind.LOAD, "load", width=width).opcode


def test_xdp_pointer_loads_are_rewritten_to_shadow_fields() -> None:
    text = """
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r4 = *(u32 *)(r1 + 8)
    r5 = *(u32 *)(r1 + 12)
    r0 = 2
    exit
    """
    insns = assemble(text)
    result = verify(insns, "xdp")
    rw = result.rewritten
    layout = linux_platform().prog_type("xdp").ctx
    shadows = {f.name: f.shadow_offset for f in layout.pointer_fields()}
    assert rw[0] == Instruction(_ldx(8), 2, 1, shadows["data"])
    assert rw[1] == Instruction(_ldx(8), 3, 1, shadows["data_end"])
    assert rw[2] == Instruction(_ldx(8), 4, 1, shadows["data_meta"])
    assert rw[3] == insns[3]  # ingress_ifindex is a plain u32
    assert [i for i, p in sorted(result.proof.items()) if p.rewritten] == [0, 1, 2]
    assert layout.total_size == 48 and shadows == {"data": 24, "data_end": 32, "data_meta": 40}


def test_skb_pointer_loads_are_rewritten() -> None:
    insns = assemble("r2 = *(u32 *)(r1 + 76)\nr3 = *(u32 *)(r1 + 80)\nr0 = 0\nexit")
    rw = verify(insns, "sched_cls").rewritten
    assert rw[0] == Instruction(_ldx(8), 2, 1, 192)
    assert rw[1] == Instruction(_ldx(8), 3, 1, 200)
    assert disassemble_one(rw[0]) == "r2 = *(u64 *)(r1 + 192)"


def test_same_insn_with_different_pointers_is_refused() -> None:
    # One load reads xdp_md.data on one path and a stack slot on the other: it cannot be rewritten.
    text = """
    r2 = r1
    r3 = *(u32 *)(r1 + 12)
    if r3 > 5 goto +3
    r2 = r10
    r2 += -8
    *(u64 *)(r10 - 8) = 0
    r0 = *(u32 *)(r2 + 0)
    r0 = 2
    exit
    """
    with pytest.raises(VerifierError, match="same insn cannot be used with different pointers"):
        verify(assemble(text), "xdp")


def test_bytes_and_prog_type_enum() -> None:
    raw = b"".join(i.encode() for i in assemble("r0 = 0\nexit"))
    assert verify(raw, ProgType.XDP).prog_type == "xdp"


def test_options_allow_pointer_leaks() -> None:
    insns = assemble("r0 = r1\nexit")
    with pytest.raises(VerifierError, match="leaks addr as return value"):
        verify(insns, "xdp")
    assert verify(insns, "xdp", options=VerifierOptions(allow_ptr_leaks=True)).accepted


def test_division_by_zero_policy() -> None:
    insns = assemble("r0 = *(u32 *)(r1 + 0)\nr2 = *(u32 *)(r1 + 4)\nr0 /= r2\nexit")
    assert verify(insns, "syscall").accepted
    with pytest.raises(VerifierError, match="division by zero"):
        verify(insns, "syscall", options=VerifierOptions(allow_div_by_zero=False))
    checked = assemble("r0 = *(u32 *)(r1 + 0)\nr2 = *(u32 *)(r1 + 4)\nr2 |= 1\nw0 /= w2\nexit")
    assert verify(checked, "syscall", options=VerifierOptions(allow_div_by_zero=False)).accepted


def test_budget_option() -> None:
    insns = assemble("r1 = 0\nr0 = 0\nl: r1 += 1\nif r1 < 100000 goto l\nexit")
    with pytest.raises(VerifierError, match=r"BPF program is too large\. Processed 1000 insn"):
        verify(insns, "socket_filter", options=VerifierOptions(max_insns=1000))


def test_unknown_program_type() -> None:
    with pytest.raises(KeyError, match="unknown program type"):
        verify(assemble("r0 = 0\nexit"), "no_such_type")


def test_ctx_size_for_syscall() -> None:
    insns = assemble("r0 = *(u32 *)(r1 + 100)\nexit")
    with pytest.raises(VerifierError, match="context is 64 bytes"):
        verify(insns, "syscall")
    assert verify(insns, "syscall", ctx_size=128).accepted


# -- a plugin platform ---------------------------------------------------------------------------
HEAP_GET, HEAP_MAYBE, LOG = 1000, 1001, 1002


def plugin_platform() -> Platform:
    """A host exposing a 256-byte heap through a helper, a helper that may fail, a logging API
    taking memory, and a context of two u64 fields, one of them writable."""
    ctx = ContextLayout(
        "plugin_ctx",
        16,
        (
            CtxField("arg", 0, 8, frozenset({8})),
            CtxField("result", 8, 8, frozenset({8}), frozenset({8})),
        ),
    )
    spec = ProgTypeSpec("plugin", ctx, ProgType.PYBPF_PLUGIN, ret_range=(0, 3), helpers=frozenset({1000, 1001, 1002}))
    helpers = [
        HelperProto(HEAP_GET, "heap", ret=RetKind.REGION, region="heap"),
        HelperProto(HEAP_MAYBE, "maybe_heap", ret=RetKind.REGION_OR_NULL, region="heap"),
        HelperProto(LOG, "log", (Arg(ArgKind.PTR_TO_MEM), Arg(ArgKind.CONST_SIZE))),
    ]
    return Platform({"plugin": spec}, helpers={h.id: h for h in helpers}, regions={"heap": RegionSpec("heap", 256)})


def test_plugin_platform_heap_access() -> None:
    text = """
    r6 = r1
    call 1000
    *(u64 *)(r0 + 248) = 1
    r1 = r0
    r2 = 256
    call 1002
    r1 = *(u64 *)(r6 + 0)
    *(u64 *)(r6 + 8) = r1
    r0 = 3
    exit
    """
    result = verify(assemble(text), "plugin", platform=plugin_platform())
    assert result.proof[2].regions == {"region:heap"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("call 1000\n*(u64 *)(r0 + 252) = 1\nr0 = 0\nexit", "invalid access to memory, mem_size=256"),
        ("call 1001\n*(u64 *)(r0 + 0) = 1\nr0 = 0\nexit", "invalid mem access 'region_or_null'"),
        ("call 1000\nr1 = r0\nr2 = 257\ncall 1002\nr0 = 0\nexit", "mem_size=256"),
        ("*(u64 *)(r1 + 0) = 1\nr0 = 0\nexit", "field arg is read-only"),
        ("r0 = 4\nexit", "should have been in [0, 3]"),
        ("call 5\nr0 = 0\nexit", "invalid func unknown#5"),
    ],
)
def test_plugin_platform_rejections(text: str, reason: str) -> None:
    with pytest.raises(VerifierError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        verify(assemble(text), "plugin", platform=plugin_platform())


def test_plugin_region_or_null_after_check() -> None:
    text = "call 1001\nif r0 == 0 goto +1\n*(u64 *)(r0 + 0) = 1\nr0 = 0\nexit"
    assert verify(assemble(text), "plugin", platform=plugin_platform()).accepted


def test_platform_extends_linux() -> None:
    base = linux_platform()
    heap = RegionSpec("heap", 64, writable=False)
    ext = base.extended(
        helpers=[HelperProto(2000, "heap", ret=RetKind.REGION, region="heap")],
        regions=[heap],
        prog_types=[ProgTypeSpec("plugin_ro", base.prog_type("syscall").ctx)],
        name="linux+plugin",
    )
    assert ext.prototypes.get(1) is not None and ext.prototypes.get(2000) is not None
    with pytest.raises(VerifierError, match="read-only region heap"):
        verify(assemble("call 2000\n*(u8 *)(r0 + 0) = 1\nr0 = 0\nexit"), "plugin_ro", platform=ext)
    assert verify(assemble("call 2000\nr0 = *(u8 *)(r0 + 63)\nexit"), "plugin_ro", platform=ext).accepted


def test_packet_pointer_kinds_in_custom_context() -> None:
    """A platform can declare packet pointers with 64-bit fields (as eBPF for Windows does)."""
    ctx = ContextLayout(
        "win_xdp",
        24,
        (
            CtxField("data", 0, 8, frozenset({8}), kind=ValueKind.PACKET),
            CtxField("data_end", 8, 8, frozenset({8}), kind=ValueKind.PACKET_END),
        ),
    )
    plat = Platform({"xdp": ProgTypeSpec("xdp", ctx, direct_packet_access=True)})
    text = """
    r2 = *(u64 *)(r1 + 0)
    r3 = *(u64 *)(r1 + 8)
    r4 = r2
    r4 += 4
    if r4 > r3 goto +1
    r0 = *(u32 *)(r2 + 0)
    r0 = 0
    exit
    """
    result = verify(assemble(text), "xdp", platform=plat)
    assert result.rewritten == assemble(text)  # 64-bit fields need no shadow
