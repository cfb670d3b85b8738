"""Both assembly syntaxes, error reporting, and the disassemble/assemble round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.errors import AssemblerError
from pybpf.isa.assembler import assemble
from pybpf.isa.disassembler import disassemble, disassemble_one
from pybpf.isa.instruction import LDDW_WITH_OFFSET, Instruction, encode_program, validate
from pybpf.isa.opcodes import FORMS, Field, Form, Kind


def one(text: str) -> bytes:
    return encode_program(assemble(text + "\nexit", check=False))[:-8]


@pytest.mark.parametrize(
    ("text", "hexbytes"),
    [
        # conformance syntax
        ("mov32 %r1, 0xffffffff", "b4010000ffffffff"),
        ("mov %r0, -1", "b7000000ffffffff"),
        ("ldxh %r0, [%r1+2]", "6910020000000000"),
        ("stdw [%r10-8], 5", "7a0af8ff05000000"),
        ("lock fetch add [%r1+0], %r2", "db21000001000000"),
        ("lock cmpxchg32 [%r10-8], %r1", "c31af8fff1000000"),
        ("lock xchg [%r1], %r3", "db310000e1000000"),
        ("le16 %r3", "d403000010000000"),
        ("swap64 %r3", "d703000040000000"),
        ("movsx1664 %r1, %r2", "bf21100000000000"),
        ("sdiv %r1, %r2", "3f21010000000000"),
        ("smod32 %r1, 7", "9401010007000000"),
        ("neg32 %r4", "8404000000000000"),
        ("jsgt32 %r1, -1, +2", "66010200ffffffff"),
        ("ja32 +5", "0600000005000000"),
        ("call %r2", "8d02000000000000"),
        ("call runtime 7", "8520000007000000"),
        ("ldxsw %r1, [%r2-4]", "8121fcff00000000"),
        # kernel / llvm-objdump syntax
        ("r1 = 5", "b701000005000000"),
        ("w1 += w2", "0c21000000000000"),
        ("*(u32 *)(r10 - 4) = r1", "631afcff00000000"),
        ("*(u8 *)(r10 - 1) = 0xff", "720affffff000000"),
        ("if r1 > 5 goto +3", "2501030005000000"),
        ("if w1 s<= w3 goto -1", "de31ffff00000000"),
        ("r0 = *(u16 *)(r1 + 2)", "6910020000000000"),
        ("r0 = *(s8 *)(r1 + 0x10)", "9110100000000000"),
        ("lock *(u64 *)(r1 + 0) += r2", "db21000000000000"),
        ("lock *(u32 *)(r1 + 8) ^= w2", "c3210800a0000000"),
        ("w2 = atomic_fetch_or((u32 *)(r1 + 0), w2)", "c321000041000000"),
        ("r0 = cmpxchg_64(r1 + 0, r0, r2)", "db210000f1000000"),
        ("call 1", "8500000001000000"),
        ("r1 s>>= 3", "c701000003000000"),
        ("r1 = -r1", "8701000000000000"),
        ("w1 = (s16)w2", "bc21100000000000"),
        ("r2 = bswap32 r2", "d702000020000000"),
        ("r0 = *(u32 *)skb[14]", "200000000e000000"),
        ("gotol -1", "06000000ffffffff"),
        ("callx r5", "8d05000000000000"),
        ("r1 = 0x1122334455667788 ll", "18010000887766550000000044332211"),
        ("r1 = map_idx_value(2) + 24 ll", "18610000020000000000000018000000"),
        # a pasted llvm-objdump line
        ("       3:\tb7 01 00 00 05 00 00 00\tr1 = 5", "b701000005000000"),
    ],
)
def test_encodings(text: str, hexbytes: str) -> None:
    assert one(text).hex() == hexbytes


def test_labels_and_exit_label() -> None:
    insns = assemble("jeq %r1, 0, exit\nloop:\nr1 -= 1\nif r1 != 0 goto loop\nexit")
    assert insns[0].off == 3 - 0 - 1
    assert insns[2].off == -2


def test_call_label_is_local_call() -> None:
    insns = assemble("call f\nexit\nf:\nr0 = 1\nexit")
    assert (insns[0].src, insns[0].imm) == (1, 1)


def test_call_helper_by_name() -> None:
    insns = assemble("call bpf_ktime_get_ns\nexit", helpers={"ktime_get_ns": 5}.get)
    assert (insns[0].src, insns[0].imm) == (0, 5)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("r0 = 0\nfrobnicate r1\nexit", 2, "cannot parse"),
        ("r0 = 0\nmov %r11, 1\nexit", 2, "no register r11"),
        ("r0 = 1 << 40", 1, "cannot parse"),
        ("mov %r0, 0x100000000\nexit", 1, "does not fit in 32 bits"),
        ("ldxw %r0, [%r1+70000]\nexit", 1, "does not fit in 16 bits"),
        ("goto nowhere\nexit", 1, "unknown label 'nowhere'"),
        ("a:\na:\nexit", 2, "defined twice"),
        ("r0 = 0\nw1 += r2\nexit", 2, "mixes 32-bit"),
        ("r0 = 0\ngoto +5\nexit", 2, "outside the program"),
        ("r0 = 0", 1, "no exit"),
        ("call nosuchthing\nexit", 1, "neither a label nor a known helper"),
        ("lock *(u16 *)(r1 + 0) += r2\nexit", 1, "only for u32 and u64"),
        ("r1 = bogus(3) ll\nexit", 1, "unknown lddw source"),
        ("add %r1\nexit", 1, "takes 2 operand"),
    ],
)
def test_errors_name_line_and_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(AssemblerError) as info:
        assemble(text)
    assert info.value.line == line
    assert reason in str(info.value)


# -- round trip over every form -------------------------------------------------------------------
s16 = st.integers(-(1 << 15), (1 << 15) - 1)
s32 = st.integers(-(1 << 31), (1 << 31) - 1)
reg = st.integers(0, 9)
reg_any = st.integers(0, 10)


@st.composite
def instruction_of(draw: st.DrawFn, form: Form) -> list[Instruction]:
    fields = {"dst": 0, "src": 0, "off": 0, "imm": 0}
    if "dst" in form.uses:
        fields["dst"] = draw(reg_any if form.kind in (Kind.STORE_IMM, Kind.STORE_REG, Kind.ATOMIC, Kind.JUMP) else reg)
    if "src" in form.uses:
        fields["src"] = draw(reg if form.kind is Kind.ATOMIC else reg_any)  # fetches write src
    if "off" in form.uses:
        fields["off"] = draw(s16)
    if "imm" in form.uses:
        fields["imm"] = draw(s32)
    if form.discriminator is not None:
        fields[form.discriminator.value] = form.value
    if form.kind is Kind.CALLX:
        fields["dst"] = draw(reg)
    first = Instruction(form.opcode, fields["dst"], fields["src"], fields["off"], fields["imm"])
    if form.is_wide:
        hi = draw(s32) if form.op in LDDW_WITH_OFFSET else 0
        return [first, Instruction(0, 0, 0, 0, hi)]
    return [first]


@pytest.mark.parametrize("form", FORMS, ids=[f"{f.opcode:#04x}-{f.mnemonic}-{f.value}" for f in FORMS])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_round_trip_every_form(form: Form, data: st.DataObject) -> None:
    slots = data.draw(instruction_of(form))
    text = disassemble_one(slots[0], slots[1] if len(slots) == 2 else None)
    back = assemble(text + "\nexit", check=False)[: len(slots)]
    assert encode_program(back) == encode_program(slots), text


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from([f for f in FORMS if f.kind not in (Kind.JUMP, Kind.CALL_LOCAL) and f.op != "func"]),
        min_size=1,
        max_size=30,
    ),
    st.data(),
)
def test_round_trip_programs(forms: list[Form], data: st.DataObject) -> None:
    slots: list[Instruction] = []
    for form in forms:
        slots.extend(data.draw(instruction_of(form)))
    slots.append(Instruction(0x95))
    validate(slots)
    text = "\n".join(t for _, t in disassemble(slots))
    assert encode_program(assemble(text)) == encode_program(slots)


def test_every_opcode_variant_is_in_one_table() -> None:
    seen: set[tuple[int, int]] = set()
    for f in FORMS:
        key = (f.opcode, f.value if f.discriminator else -1)
        assert key not in seen, f
        seen.add(key)
    # Opcode classes present: all eight.
    assert {f.opcode & 7 for f in FORMS} == set(range(8))
    assert Field.SRC in {f.discriminator for f in FORMS}
