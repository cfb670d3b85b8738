"""Shared range tests (see "Memory checks" in pybpf.jit.lower): accesses of one block through
one register are tested together, and each access falls back to its own check whenever the
range is not in one region -- so faults, their instruction, the count and memory stay the
interpreter's.

Cases: straight-line blocks outside loops (emitted twice, tested at the first access), blocks
of a versioned loop's fast copy (tested at the block's entry, falling back to the checked copy
of the loop), ranges ending at a region's end or crossing it, read-only regions, and random
blocks of loads and stores at random offsets against regions of random sizes.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.isa.assembler import assemble
from pybpf.isa.instruction import validate
from pybpf.jit import JitEngine
from pybpf.jit.lower import SharedCheck, basic_blocks, checked_stretches, entry_plan, lower, shared_groups
from pybpf.vm.interpreter import Interpreter
from pybpf.vm.memory import Region

from .agreement import agree

WIDTHS = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}


def groups_of(text: str) -> list[tuple[int, ...]]:
    """The shared groups of every block of a program, as their members."""
    insns = assemble(text)
    forms = validate(insns)
    blocks = basic_blocks(insns, forms)
    return [g.members for b in sorted(blocks) for g in shared_groups(insns, forms, blocks[b].insns, lambda i: True)]


def test_groups_follow_the_register_the_access_kind_and_calls() -> None:
    text = "\n".join(
        [
            "r2 = *(u32 *)(r1 + 0)",  # 0: read group of r1 ...
            "r3 = *(u8 *)(r1 + 9)",  # 1
            "*(u32 *)(r1 + 4) = r2",  # 2: ... writes are a group of their own
            "*(u16 *)(r1 + 12) = r3",  # 3
            "r4 = *(u64 *)(r1 + 300)",  # 4: too far from the others: alone
            "r1 += 8",  # 5: r1 changes: what follows is a new group
            "r5 = *(u8 *)(r1 + 0)",  # 6
            "r5 = *(u8 *)(r1 + 1)",  # 7
            "call 5",  # 8: a helper may change the regions
            "r0 = *(u8 *)(r1 + 2)",  # 9
            "r0 = *(u8 *)(r1 + 3)",  # 10
            "r0 = *(u8 *)(r0 + 3)",  # 11: its own group, and r0 is written by it
            "exit",
        ]
    )
    assert sorted(groups_of(text)) == [(0, 1), (2, 3), (6, 7), (9, 10)]


def test_overlapping_groups_share_a_stretch_unless_a_register_changes_first() -> None:
    text = "\n".join(
        [
            "r3 = *(u8 *)(r1 + 0)",  # 0: r1 group
            "r4 = *(u8 *)(r2 + 0)",  # 1: r2 group, inside r1's stretch
            "r5 = *(u8 *)(r1 + 1)",  # 2
            "r4 = *(u8 *)(r2 + 1)",  # 3
            "r6 = 1",  # 4
            "r6 = *(u8 *)(r6 + 0)",  # 5: r6 written after the stretch started: not tested there
            "r7 = *(u8 *)(r6 + 1)",  # 6 ... but r6 is written by 5 before 6 anyway: no group
            "r7 = *(u8 *)(r1 + 2)",  # 7
            "exit",
        ]
    )
    insns = assemble(text)
    forms = validate(insns)
    block = basic_blocks(insns, forms)[0].insns
    stretches = checked_stretches(insns, forms, block, lambda i: True)
    assert [(s.start, s.end, sorted(s.unchecked)) for s in stretches] == [(0, 7, [0, 1, 2, 3, 7])]
    late = "r2 = r1\n" + text.replace("r4 = *(u8 *)(r2 + 0)", "r2 = r1")
    # Tested at the block's entry, r2 is r1 there: one group of r1 (the load through r6 = 1 is
    # a constant address of its own, the one through a loaded r6 unknown).
    assert [g.members for g in plan_of(late)[0]] == [(1, 3, 4, 8)]


def plan_of(text: str, frame: int = 0, needs: frozenset[int] | None = None) -> dict[int, list[SharedCheck]]:
    """The entry tests of the fast copy of the loop at the program's first label (or of
    block 0 taken as a loop body of its own)."""
    insns = assemble(text)
    forms = validate(insns)
    blocks = basic_blocks(insns, forms)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    head = 0
    if "loop:" in lines:
        head = sum(1 for line in lines[: lines.index("loop:")] if not line.endswith(":"))
    body = frozenset(b for b in blocks if head <= b < len(insns) - 1) if head else frozenset({0})
    return entry_plan(insns, forms, blocks, body, head, lambda i: needs is None or i in needs, frame)


def test_entry_groups_follow_addresses_computed_in_the_block() -> None:
    """The parser's Ethernet block: the header pointer is computed from two registers in the
    block itself (``data + off``), and two fields are read through it."""
    text = "\n".join(
        [
            "r0 = r1",  # 0
            "r0 += r6",  # 1
            "r0 += 8280",  # 2
            "r8 = *(u8 *)(r0 + 13)",  # 3
            "r8 <<= 8",  # 4
            "r5 = *(u8 *)(r0 + 12)",  # 5
            "*(u64 *)(r10 - 8) = r5",  # 6: the frame: no check
            "r0 = *(u64 *)(r10 - 16)",  # 7
            "r7 = *(u64 *)(r0 + 0)",  # 8: through a slot's block-entry value ...
            "r7 = *(u64 *)(r0 + 8)",  # 9: ... (a private frame's)
            "exit",
        ]
    )
    needs = frozenset({3, 5, 8, 9})
    groups = plan_of(text, 512, needs)[0]
    assert sorted((g.members, g.low, g.high) for g in groups) == [((3, 5), 8292, 8294), ((8, 9), 0, 16)]
    assert [g.members for g in plan_of(text, 0, needs)[0]] == [(3, 5)]  # no private frame


CHAIN = """
    r0 = 0
    r7 = 0
loop:
    r2 = *(u8 *)(r1 + 0)
    if r2 > 200 goto next
    r2 += r1
    r3 = *(u8 *)(r2 + 0)
    if r3 > 100 goto other
    r4 = *(u8 *)(r2 + 1)
    goto join
other:
    r4 = *(u8 *)(r2 + 2)
join:
    r5 = *(u8 *)(r2 + 3)
    r0 += r5
    r0 += r4
next:
    r7 += 1
    if r7 < 20 goto loop
    exit
"""


def test_a_block_tests_for_the_blocks_only_it_leads_to() -> None:
    """Instruction 5's block leads alone to both arms (7, 9), not to the join (10): one test at
    its entry covers 5, 7 and 9 (in terms of r1 and r2 there); the head's block cannot (r2 is
    loaded in it), and the join's lone access keeps its check."""
    plan = plan_of(CHAIN)
    assert {b: [(g.members, g.low, g.high) for g in groups] for b, groups in plan.items()} == {4: [((5, 7, 9), 0, 3)]}


@pytest.mark.parametrize("offset, arm", [(46, 0), (47, 0), (48, 0), (48, 200), (210, 0)])
def test_a_failed_test_for_a_chain_goes_on_checked_where_the_interpreter_faults(offset: int, arm: int) -> None:
    """The 50-byte region ends inside the range the test at 5 covers (offset 47 on): the fast
    copy goes on in the checked one, which faults at the join's access or in the arm the byte
    at the offset chooses."""
    data = bytearray((k * 13) % 97 for k in range(50))
    data[0] = offset
    if offset < 50:
        data[offset] = arm
    assert "\nv2:" in lower(assemble(CHAIN), validate(assemble(CHAIN)))
    result, _, _ = agree(CHAIN, bytes(data))
    fault = {46: None, 47: 10, 48: 10 if arm <= 100 else 9, 210: None}[offset]
    assert result == ("MemoryAccessError", fault) if fault is not None else isinstance(result, int)


HEADER = """
    r0 = 0
    r2 = *(u32 *)(r1 + {a})
    r0 += r2
    *(u16 *)(r1 + {b}) = r0
    r3 = *(u8 *)(r1 + {c})
    r0 += r3
    *(u32 *)(r1 + {d}) = r3
    r4 = *(u16 *)(r1 + {e})
    r0 += r4
    exit
"""


@pytest.mark.parametrize("size", [24, 23, 20, 13, 11, 8])
@pytest.mark.parametrize("writable", [True, False])
def test_a_block_crossing_the_region_end_faults_at_the_first_access_outside(size: int, writable: bool) -> None:
    """Reads at 0..4, 12..13, 20..22 and writes at 6..8, 16..20: each size cuts the block at a
    different access, and a read-only region faults at the first store after the loads before
    it ran."""
    text = HEADER.format(a=0, b=6, c=12, d=16, e=20)
    data = bytes(range(1, size + 1))
    result, _, memory = agree(text, data, writable=writable)
    fault = 3 if not writable else {24: None, 23: None, 20: 7, 13: 6, 11: 4, 8: 4}[size]
    if fault is None:
        assert isinstance(result, int) and memory != data
    else:
        assert result == ("MemoryAccessError", fault)


SHORT = """
    r0 = *(u8 *)(r1 + 0)
    if r0 == 255 goto out
    r2 = *(u8 *)(r1 + 4)
    r3 = *(u32 *)(r1 + 6)
    r0 = r2
    r0 += r3
out:
    exit
"""


@pytest.mark.parametrize("size", [8, 9, 10, 16])
def test_a_short_range_is_tested_against_its_own_length_not_the_first_access(size: int) -> None:
    """The first load caches the region; the group's 6-byte range then fits the cache's 8-byte
    limit only from 16 bytes on, is found by the quiet lookup at 10, and at 8 or 9 leaves the
    u32 at 6 to fault on its own check."""
    result, _, _ = agree(SHORT, bytes(range(1, size + 1)))
    assert result == (("MemoryAccessError", 3) if size < 10 else 5 + int.from_bytes(bytes(range(7, 11)), "little"))


def test_a_second_run_finds_the_region_cached_and_still_agrees() -> None:
    text = HEADER.format(a=0, b=6, c=12, d=16, e=20)
    vm, ref = JitEngine(assemble(text)), Interpreter(assemble(text))
    mine, theirs = (e.memory.add(Region("data", bytearray(range(24)), writable=True)) for e in (vm, ref))
    for _ in range(3):
        assert vm.run(mine) == ref.run(theirs)
        assert mine.buf == theirs.buf


PACKETS = """
    r0 = 0
    r6 = 0
loop:
    r2 = r6
    r2 <<= 3
    r2 += r1
    r3 = *(u32 *)(r2 + 0)
    if r3 > 100000 goto next
    r2 = r1
    r2 += r3
    r4 = *(u8 *)(r2 + {a})
    r5 = *(u16 *)(r2 + {b})
    r4 += r5
    r5 = *(u32 *)(r2 + {c})
    r4 += r5
    *(u8 *)(r2 + {d}) = r4
    r0 += r4
next:
    r6 += 1
    if r6 < {n} goto loop
    exit
"""


def packets(offsets: list[int], size: int) -> bytes:
    data = bytearray(size)
    for k, off in enumerate(offsets):
        data[8 * k : 8 * k + 4] = off.to_bytes(4, "little")
    for k in range(8 * len(offsets), size):
        data[k] = (k * 7) % 251
    return bytes(data)


@pytest.mark.parametrize("last", [300, 390, 391, 392, 400, 4000])
def test_loaded_offsets_in_a_fast_loop_copy_fall_back_to_the_checked_copy(last: int) -> None:
    """The loop is versioned (its descriptor loads are the guard's) but each header's offset
    is loaded: its fields share a test at the block's entry.  The last header moves across the
    region's end: the fast copy must go on in the checked copy there, which faults at the first
    field outside (391 is the last offset at which all fit)."""
    offsets = [200 + 8 * k for k in range(23)] + [last]  # enough iterations for the fast copy
    text = PACKETS.format(a=0, b=2, c=4, d=8, n=len(offsets))
    assert "\nv2:" in lower(assemble(text), validate(assemble(text)))  # the fast copy
    result, _, _ = agree(text, packets(offsets, 400))
    fault = {300: None, 390: None, 391: None, 392: 14, 400: 9, 4000: 9}[last]
    if fault is None:
        assert isinstance(result, int)
    else:
        assert result == ("MemoryAccessError", fault)


@st.composite
def blocks_of_accesses(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    """A block of loads, stores and register changes through r6, alone or as a loop's body;
    in a loop r6 is either fixed or ``r1`` plus a byte the body may itself overwrite (so the
    accesses are the fast copy's to test, at the block's entry)."""

    def at(off: int) -> str:
        return f"r6 + {off}" if off >= 0 else f"r6 - {-off}"

    body = []
    for _ in range(draw(st.integers(1, 12))):
        width = draw(st.sampled_from(sorted(WIDTHS)))
        off = draw(st.integers(-12, 60))
        kind = draw(st.sampled_from(["load", "store", "store_imm", "alu", "move"]))
        if kind == "load":
            body += [f"r2 = *({WIDTHS[width]} *)({at(off)})", "r0 += r2"]
        elif kind == "store":
            body.append(f"*({WIDTHS[width]} *)({at(off)}) = r0")
        elif kind == "store_imm":
            body.append(f"*({WIDTHS[width]} *)({at(off)}) = {draw(st.integers(-100, 100))}")
        elif kind == "alu":
            body.append(f"r0 *= {draw(st.integers(1, 9))}")
        else:
            body.append(f"r6 += {draw(st.integers(-4, 4))}")
    fixed = ["r6 = r1", f"r6 += {draw(st.integers(-8, 40))}"]
    shape = draw(st.sampled_from(["block", "loop", "loaded base"]))
    trips = draw(st.integers(1, 40))
    if shape == "block":
        lines = ["r0 = 0", *fixed, *body]
    elif shape == "loop":
        lines = ["r0 = 0", *fixed, "r7 = 0", "loop:", *body, "r7 += 1", f"if r7 < {trips} goto loop"]
    else:
        limit = draw(st.sampled_from([255, draw(st.integers(0, 80))]))
        head = ["r6 = *(u8 *)(r1 + 0)", f"if r6 > {limit} goto next", "r6 += r1"]
        lines = ["r0 = 0", "r7 = 0", "loop:", *head, *body, "next:", "r7 += 1", f"if r7 < {trips} goto loop"]
    size = draw(st.integers(8, 80))
    data = bytes([draw(st.integers(0, size))]) + draw(st.binary(min_size=size - 1, max_size=size - 1))
    return "\n".join([*lines, "exit"]), data, draw(st.booleans())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks_of_accesses())
def test_random_blocks_of_accesses_agree(case: tuple[str, bytes, bool]) -> None:
    text, data, writable = case
    agree(text, data, writable=writable)
