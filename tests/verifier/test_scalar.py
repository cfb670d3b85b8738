"""The scalar domain against the ISA's reference semantics (:mod:`pybpf.isa.semantics`).

For random abstract values (joins of concrete values, narrowed by branch refinements and masks)
and concrete members of them chosen at the edges of every range, every transfer function must
contain the concrete result, every branch refinement must keep every pair of members for which
the branch outcome holds, and joins and widenings must contain both arguments.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.isa import semantics
from pybpf.verifier import scalar as sc
from pybpf.verifier import tnum
from pybpf.verifier.scalar import Scalar

M64 = (1 << 64) - 1
ALU = ["add", "sub", "mul", "div", "mod", "sdiv", "smod", "or", "and", "xor", "lsh", "rsh", "arsh", "neg", "mov"]
JUMPS = ["jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset"]
EDGES = [0, 1, 7, 8, 0x7F, 0x80, 0xFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 32, (1 << 63) - 1, 1 << 63, M64]
VALUES = st.one_of(
    st.sampled_from(EDGES),
    st.integers(0, 300),
    st.integers(-300, -1).map(lambda v: v & M64),
    st.integers(0, M64),
    st.integers(0, 0xFFFF_FFFF),
)


@st.composite
def abstract(draw: Any) -> Scalar:
    values = draw(st.lists(VALUES, min_size=1, max_size=4))
    s = Scalar.const(values[0])
    for v in values[1:]:
        s = sc.join(s, Scalar.const(v))
    if draw(st.booleans()):
        op = draw(st.sampled_from(JUMPS))
        width = draw(st.sampled_from([32, 64]))
        refined = sc.refine(op, width, s, Scalar.const(draw(VALUES)), draw(st.booleans()))
        if refined is not None:
            s = refined[0]
    if draw(st.integers(0, 4)) == 0:
        s = sc.alu("and", 64, s, Scalar.const(draw(st.sampled_from([0xFF, 0xFFFF, 7, 0xF0, -8 & M64]))))
    return s


def members(s: Scalar) -> list[int]:
    """Concrete values of ``s``, favouring the edges of each of its facts."""
    candidates = {
        s.umin,
        s.umax,
        s.smin & M64,
        s.smax & M64,
        s.v,
        s.v | s.m,
        (s.umax & ~sc.M32) | s.u32max,
        (s.umin & ~sc.M32) | s.u32min,
        (s.umin & ~sc.M32) | (s.s32min & sc.M32),
        (s.umax & ~sc.M32) | (s.s32max & sc.M32),
        s.v | (s.m & sc.M32),
        s.v | (s.m & ~sc.M32),
    }
    return sorted(x for x in candidates if s.contains_value(x))


@settings(max_examples=400, deadline=None)
@given(abstract(), abstract(), st.sampled_from(ALU), st.sampled_from([32, 64]))
def test_alu_contains_concrete_results(a: Scalar, b: Scalar, op: str, width: int) -> None:
    result = sc.alu(op, width, a, b)
    for x in members(a):
        for y in members(b):
            c = semantics.alu(op, width, x, y)
            assert result.contains_value(c), f"{op}{width}({x:#x}, {y:#x}) = {c:#x} not in {result}"


@settings(max_examples=200, deadline=None)
@given(abstract(), st.sampled_from([8, 16, 32]), st.sampled_from([32, 64]))
def test_movsx_contains_concrete_results(b: Scalar, bits: int, width: int) -> None:
    if width == 32 and bits == 32:
        return
    result = sc.alu("movsx", width, Scalar.const(0), b, bits)
    for y in members(b):
        assert result.contains_value(semantics.alu("movsx", width, 0, y, bits))


@settings(max_examples=400, deadline=None)
@given(abstract(), abstract(), st.sampled_from(JUMPS), st.sampled_from([32, 64]), st.booleans())
def test_refine_keeps_every_pair_on_its_branch(a: Scalar, b: Scalar, op: str, width: int, taken: bool) -> None:
    refined = sc.refine(op, width, a, b, taken)
    for x in members(a):
        for y in members(b):
            if semantics.condition(op, width, x, y) == taken:
                assert refined is not None, f"{op}{width} {x:#x},{y:#x} possible but refinement empty"
                assert refined[0].contains_value(x) and refined[1].contains_value(y)


@settings(max_examples=200, deadline=None)
@given(abstract(), st.sampled_from(["le", "be", "bswap"]), st.sampled_from([16, 32, 64]))
def test_byte_order(a: Scalar, op: str, bits: int) -> None:
    result = sc.byte_order(op, bits, a)
    for x in members(a):
        assert result.contains_value(semantics.end(op, bits, x))


@settings(max_examples=200, deadline=None)
@given(abstract(), st.sampled_from([1, 2, 4, 8]))
def test_truncate_and_sign_extend(a: Scalar, nbytes: int) -> None:
    t = sc.truncate(a, nbytes)
    for x in members(a):
        assert t.contains_value(x & ((1 << (8 * nbytes)) - 1))
        if nbytes < 8:
            assert sc.sign_extend(a, 8 * nbytes).contains_value(semantics.signed(x, 8 * nbytes) & M64)


@settings(max_examples=200, deadline=None)
@given(abstract(), abstract())
def test_join_and_widen_contain_both(a: Scalar, b: Scalar) -> None:
    j = sc.join(a, b)
    w = sc.widen(a, b)
    for x in members(a) + members(b):
        assert j.contains_value(x) and w.contains_value(x)
    assert j.includes(a) and j.includes(b) and w.includes(j)


@settings(max_examples=200, deadline=None)
@given(abstract(), abstract())
def test_includes_means_contains(a: Scalar, b: Scalar) -> None:
    if a.includes(b):
        assert all(a.contains_value(x) for x in members(b))


@settings(max_examples=300, deadline=None)
@given(abstract(), abstract())
def test_tnum_operations(a: Scalar, b: Scalar) -> None:
    for x in members(a):
        for y in members(b):
            assert tnum.contains_value(*tnum.add(a.v, a.m, b.v, b.m), (x + y) & M64)
            assert tnum.contains_value(*tnum.sub(a.v, a.m, b.v, b.m), (x - y) & M64)
            assert tnum.contains_value(*tnum.mul(a.v, a.m, b.v, b.m), (x * y) & M64)
            assert tnum.contains_value(*tnum.and_(a.v, a.m, b.v, b.m), x & y)
            assert tnum.contains_value(*tnum.or_(a.v, a.m, b.v, b.m), x | y)
            assert tnum.contains_value(*tnum.xor(a.v, a.m, b.v, b.m), x ^ y)
        for k in (0, 1, 7, 63):
            assert tnum.contains_value(*tnum.lshift(a.v, a.m, k), (x << k) & M64)
            assert tnum.contains_value(*tnum.rshift(a.v, a.m, k), x >> k)
            assert tnum.contains_value(*tnum.arshift(a.v, a.m, k), (semantics.signed(x, 64) >> k) & M64)
        assert tnum.contains_value(*tnum.from_range(a.umin, a.umax), x)


def test_kernel_documented_example() -> None:
    """verifier.rst: a byte load multiplied by 14 has umax 3570 (pybpf's tnum is tighter)."""
    s = sc.alu("mul", 64, Scalar.of_bytes(1), Scalar.const(14))
    assert s.umax == 3570 and s.umin == 0
    assert s.m == 0xFFE and s.v == 0


def test_infeasible_refinement() -> None:
    s = Scalar.urange(0, 7)
    assert sc.refine("jgt", 64, s, Scalar.const(7), True) is None
    assert sc.refine("jle", 64, s, Scalar.const(7), False) is None
    assert sc.refine("jset", 64, Scalar.urange(0, 7), Scalar.const(8), True) is None
    taken = sc.refine("jsgt", 32, Scalar.unknown(), Scalar.const(5), True)
    assert taken is not None and taken[0].s32min == 6
