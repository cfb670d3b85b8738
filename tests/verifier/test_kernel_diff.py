"""Differential test: pybpf's verdicts against the machine's own Linux verifier.

Each corpus program is loaded with bpf(BPF_PROG_LOAD) (as root: a privileged loader) and the
kernel's verdict compared with pybpf's.  Programs marked ``; kernel: differs "..."`` document a
deliberate difference (pybpf refuses pointer leaks and uninitialised stack reads that Linux allows a
privileged loader, tracks some facts Linux forgets, and treats the ``syscall`` context as a plain
buffer); programs marked ``; kernel: skip "..."`` cannot be loaded as written (Linux needs BTF for
callbacks, tail calls in sub-programs and spin locks).  Every other program must get the same
verdict.

The required part covers the programs without maps; a second test also creates the maps a
program declares (``BPF_MAP_CREATE``, read-only data frozen) and compares those too.  The whole
module is skipped, with the reason, where bpf(2) is unavailable (not root, no BPF, seccomp, or
``PYBPF_NO_KERNEL`` set).
"""

from __future__ import annotations

import pytest

from pybpf.verifier import VerifierError, verify

from . import kernel
from .corpus_files import CorpusCase, load_cases

REASON = kernel.unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"kernel verifier unavailable: {REASON}")

CASES = [c for c in load_cases() if c.kernel != "skip"]
NO_MAPS = [c for c in CASES if not c.program.maps]
WITH_MAPS = [c for c in CASES if c.program.maps]


def _ours(case: CorpusCase) -> bool:
    try:
        verify(
            case.program.insns,
            case.prog_type,
            maps=case.program.maps,
            ctx_size=case.program.ctx_size,
            options=case.options(),
        )
    except VerifierError:
        return False
    return True


def _kernels(case: CorpusCase) -> tuple[bool, str]:
    fd, log = kernel.load_with_maps(case.program.insns, case.prog_type, case.program.maps)
    lines = [line for line in log.strip().splitlines() if line and not line.startswith("processed")]
    return fd >= 0, (lines[-1] if lines else "")


def _compare(case: CorpusCase) -> None:
    ours = _ours(case)
    theirs, last = _kernels(case)
    if case.kernel == "differs":
        # Documented difference: nothing to assert (a newer kernel may have closed the gap).
        return
    assert ours == theirs, (
        f"{case.name}: pybpf {'accepts' if ours else 'rejects'}, Linux {'accepts' if theirs else 'rejects'} ({last})"
    )


@pytest.mark.parametrize("case", NO_MAPS, ids=[c.name for c in NO_MAPS])
def test_same_verdict_as_kernel(case: CorpusCase) -> None:
    _compare(case)


@pytest.mark.parametrize("case", WITH_MAPS, ids=[c.name for c in WITH_MAPS])
def test_same_verdict_as_kernel_with_maps(case: CorpusCase) -> None:
    _compare(case)


def test_documented_differences_are_few() -> None:
    documented = [c for c in load_cases() if c.kernel == "differs"]
    assert len(documented) <= len(load_cases()) // 5
    for case in documented:
        assert case.kernel_note, f"{case.name}: say why it differs"
