"""Templated corpus programs (written to ``corpus/gen_*``; ``python tests/verifier/corpus_gen.py``).

Each template states the fact its label follows from, and the generator computes the label from
that fact, not by running the verifier:

* **packet bounds**: after ``pkt + K`` is compared with ``data_end`` in one of the eight
  spellings, the branch where the comparison proves ``pkt + K <= data_end`` (or ``<``, which
  proves one byte more) may access ``[pkt, pkt + K)`` (``K + 1``); an access of ``S`` bytes at
  ``O`` is safe iff ``O + S <= K`` (``K + 1``).  The other branch proves nothing.
* **map value bounds**: a value of ``V`` bytes may be accessed at ``[O, O + S)`` iff
  ``0 <= O`` and ``O + S <= V``.
* **masked indices**: an index ``(x & M) * STEP`` into a ``V``-byte value accessed with ``S``
  bytes is safe iff ``M * STEP + S <= V``.
* **stack offsets**: a fixed access ``[fp + O, fp + O + S)`` is inside the frame iff
  ``-512 <= O`` and ``O + S <= 0``.
"""

from __future__ import annotations

import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
SIZES = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}

# (name, condition text with {P}=pkt+K register and {E}=data_end, safe branch, strict?)
PACKET_FORMS = (
    ("pkt_gt_end", "if {P} > {E}", "fall", False),
    ("pkt_ge_end", "if {P} >= {E}", "fall", True),
    ("end_lt_pkt", "if {E} < {P}", "fall", False),
    ("end_le_pkt", "if {E} <= {P}", "fall", True),
    ("pkt_le_end", "if {P} <= {E}", "taken", False),
    ("pkt_lt_end", "if {P} < {E}", "taken", True),
    ("end_ge_pkt", "if {E} >= {P}", "taken", False),
    ("end_gt_pkt", "if {E} > {P}", "taken", True),
)


def _packet_program(form: tuple[str, str, str, bool], k: int, off: int, size: int, in_safe_branch: bool) -> str:
    _name, cond, safe, strict = form
    proven = k + 1 if strict else k
    ok = in_safe_branch and off + size <= proven
    test = cond.format(P="r4", E="r3")
    access = f"r0 = *({SIZES[size]} *)(r2 + {off})"
    lines = [
        f"; Packet bounds, '{test}' with r4 = data + {k}: the {'safe' if in_safe_branch else 'unsafe'} branch",
        f"; proves {proven if in_safe_branch else 0} bytes; the access reads [{off}, {off + size}).",
        "; type: xdp",
        "; expect: accept" if ok else '; expect: reject "invalid access to packet"',
    ]
    lines += ["r2 = *(u32 *)(r1 + 0)", "r3 = *(u32 *)(r1 + 4)", "r4 = r2", f"r4 += {k}"]
    accessing_branch_is_taken = (safe == "taken") == in_safe_branch
    if accessing_branch_is_taken:
        lines += [f"{test} goto use", "r0 = 1", "exit", "use:", access, "r0 = 2", "exit"]
    else:
        lines += [f"{test} goto other", access, "r0 = 2", "exit", "other:", "r0 = 1", "exit"]
    return "\n".join(lines) + "\n"


def packet_programs() -> dict[str, str]:
    out: dict[str, str] = {}
    for form in PACKET_FORMS:
        k = 14
        for off, size in ((10, 2), (12, 2), (13, 2), (14, 2), (8, 8)):
            out[f"gen_packet/{form[0]}_k{k}_o{off}_s{size}"] = _packet_program(form, k, off, size, True)
        out[f"gen_packet/{form[0]}_wrong_branch"] = _packet_program(form, k, 0, 1, False)
    return out


def _map_value_program(off: int, size: int, write: bool) -> str:
    ok = off >= 0 and off + size <= 16
    op = (
        f"*({SIZES[size]} *)(r0 {'+' if off >= 0 else '-'} {abs(off)}) = 1"
        if write
        else (f"r1 = *({SIZES[size]} *)(r0 {'+' if off >= 0 else '-'} {abs(off)})")
    )
    return (
        "\n".join(
            [
                f"; Map value bounds: a 16-byte value, {'write' if write else 'read'} of [{off}, {off + size}).",
                "; type: socket_filter",
                "; map vals array key=4 value=16 entries=4",
                "; expect: accept" if ok else '; expect: reject "invalid access to map value"',
                "r1 = 0",
                "*(u32 *)(r10 - 4) = r1",
                "r2 = r10",
                "r2 += -4",
                "r1 = map(vals) ll",
                "call bpf_map_lookup_elem",
                "if r0 == 0 goto out",
                op,
                "out:",
                "r0 = 0",
                "exit",
            ]
        )
        + "\n"
    )


def _masked_index_program(mask: int, step_shift: int, size: int, insn_off: int) -> str:
    step = 1 << step_shift
    top = mask * step + insn_off
    ok = top + size <= 64
    return (
        "\n".join(
            [
                f"; Masked index: (x & {mask}) << {step_shift} + {insn_off} indexes a 64-byte value; the last",
                f"; access reads [{top}, {top + size}).",
                "; type: syscall",
                "; map vals array key=4 value=64 entries=1",
                "; expect: accept" if ok else '; expect: reject "invalid access to map value"',
                "r6 = *(u32 *)(r1 + 0)",
                "r1 = 0",
                "*(u32 *)(r10 - 4) = r1",
                "r2 = r10",
                "r2 += -4",
                "r1 = map(vals) ll",
                "call bpf_map_lookup_elem",
                "if r0 == 0 goto out",
                f"r6 &= {mask}",
                f"r6 <<= {step_shift}",
                "r0 += r6",
                f"r1 = *({SIZES[size]} *)(r0 + {insn_off})",
                "out:",
                "r0 = 0",
                "exit",
            ]
        )
        + "\n"
    )


def map_programs() -> dict[str, str]:
    out: dict[str, str] = {}
    for off, size in ((0, 8), (8, 8), (12, 4), (12, 8), (15, 1), (16, 1), (-4, 4)):
        for write in (False, True):
            tag = f"o{off}".replace("-", "m")
            out[f"gen_map/value_{'w' if write else 'r'}_{tag}_s{size}"] = _map_value_program(off, size, write)
    for mask, shift, size, insn_off in (
        (7, 3, 8, 0),
        (15, 2, 4, 0),
        (15, 3, 8, 0),
        (7, 3, 8, 8),
        (63, 0, 1, 0),
        (63, 0, 2, 0),
        (3, 4, 8, 8),
        (3, 4, 8, 16),
    ):
        name = f"gen_map/index_m{mask}_s{shift}_z{size}_o{insn_off}"
        out[name] = _masked_index_program(mask, shift, size, insn_off)
    return out


def _stack_program(off: int, size: int, write: bool) -> str:
    ok = -512 <= off and off + size <= 0
    if write:
        body = [f"*({SIZES[size]} *)(r10 {'+' if off >= 0 else '-'} {abs(off)}) = 0", "r0 = 0"]
        why = "writes"
    else:
        body = [
            "r1 = 0",
            *(f"*(u64 *)(r10 - {8 * (k + 1)}) = r1" for k in range(64)),
            f"r0 = *({SIZES[size]} *)(r10 {'+' if off >= 0 else '-'} {abs(off)})",
        ]
        why = "reads (after initialising the whole frame)"
    return (
        "\n".join(
            [
                f"; Stack bounds: {why} [fp{off:+d}, fp{off + size:+d}); the frame is [fp-512, fp).",
                "; type: socket_filter",
                "; expect: accept" if ok else '; expect: reject "out of bounds"',
                *body,
                "exit",
            ]
        )
        + "\n"
    )


def stack_programs() -> dict[str, str]:
    out: dict[str, str] = {}
    for off, size in ((-8, 8), (-1, 1), (-2, 2), (-4, 4), (-512, 8), (-513, 1), (-516, 4), (-2, 4), (0, 1), (8, 8)):
        for write in (True, False):
            tag = f"o{off}".replace("-", "m")
            out[f"gen_stack/{'w' if write else 'r'}_{tag}_s{size}"] = _stack_program(off, size, write)
    return out


def generate() -> dict[str, str]:
    return {**packet_programs(), **map_programs(), **stack_programs()}


def main() -> None:
    for d in CORPUS.glob("gen_*"):
        for f in d.glob("*.s"):
            f.unlink()
    for name, text in generate().items():
        path = CORPUS / f"{name}.s"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"wrote {len(generate())} programs", file=sys.stderr)


if __name__ == "__main__":
    main()
