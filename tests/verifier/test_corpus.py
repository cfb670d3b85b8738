"""Every corpus program gets the verdict (and, for rejections, the reason) its label states."""

from __future__ import annotations

from collections import Counter

import pytest

from pybpf.verifier import VerifierError, verify

from . import corpus_gen
from .corpus_files import CORPUS, CorpusCase, load_cases

CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_program(case: CorpusCase) -> None:
    prog = case.program
    assert prog.expect in ("accept", "reject"), f"{case.name}: no '; expect:' header"
    try:
        result = verify(prog.insns, case.prog_type, maps=prog.maps, ctx_size=prog.ctx_size, options=case.options())
    except VerifierError as exc:
        assert prog.expect == "reject", f"{case.name}: expected accept, rejected: {exc}"
        assert prog.expect_reason in exc.reason, f"{case.name}: expected {prog.expect_reason!r}, got: {exc}"
        assert 0 <= exc.index < len(prog.insns)
        return
    assert prog.expect == "accept", f"{case.name}: expected reject {prog.expect_reason!r}, accepted"
    assert result.insns_processed >= 1


def test_corpus_size_and_balance() -> None:
    labels = Counter(c.program.expect for c in CASES)
    assert len(CASES) >= 300
    assert labels["accept"] >= 100 and labels["reject"] >= 100
    categories = {c.name.split("/")[0] for c in CASES}
    for needed in ("stack", "ctx", "packet", "map", "scalar", "loop", "call", "helper", "ret", "ptr", "struct"):
        assert needed in categories


def test_generated_corpus_is_current() -> None:
    generated = corpus_gen.generate()
    on_disk = {
        str(p.relative_to(CORPUS).with_suffix("")): p.read_text() for d in CORPUS.glob("gen_*") for p in d.glob("*.s")
    }
    assert on_disk == generated, "run: python tests/verifier/corpus_gen.py"


# One corpus program at least for each class of unsafe program the verifier must catch.
REQUIRED_REASONS = (
    "!read_ok",
    "uninitialised",
    "out of bounds",
    "invalid bpf_context access",
    "invalid access to packet",
    "invalid access to map value",
    "invalid mem access 'map_value_or_null'",
    "leaks addr",
    "pointer arithmetic",
    "should have been in",
    "infinite loop detected",
    "too large",
    "frames is too deep",
    "combined stack size",
    "cannot pass map_type",
    "Unreleased reference",
    "invalid size of register fill",
    "min value is negative",
    "unbounded memory access",
    "write into map forbidden",
    "unreachable insn",
    "jump out of range",
    "tail_calls are not allowed",
    "At callback return",
    "not allowed for this program type",
)


def test_every_check_is_exercised() -> None:
    reasons = [c.program.expect_reason for c in CASES if c.program.expect == "reject"]
    missing = [r for r in REQUIRED_REASONS if not any(r in reason for reason in reasons)]
    assert not missing
