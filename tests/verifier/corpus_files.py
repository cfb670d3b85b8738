"""The verifier corpus: small programs in kernel-syntax assembly, each labelled accept or reject.

Every file in ``corpus/`` starts with comment headers (see :mod:`pybpf.verifier.source`): the
program type, the maps, ``; expect: accept`` or ``; expect: reject "reason substring"`` and,
for the kernel differential test, optionally ``; kernel: skip "why"`` (the kernel cannot load it
as written) or ``; kernel: differs "why"`` (a documented difference between pybpf's policy and
Linux's for a privileged loader).  ``; options: max_insns=N`` tunes the verifier for one case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pybpf.verifier.api import default_platform
from pybpf.verifier.result import VerifierOptions
from pybpf.verifier.source import AsmProgram, read_asm_file

CORPUS = Path(__file__).resolve().parent / "corpus"
_KERNEL = re.compile(r'^\s*;\s*kernel:\s*(skip|differs)\s+"(.*)"\s*$', re.MULTILINE)


@dataclass(frozen=True)
class CorpusCase:
    path: Path
    name: str
    program: AsmProgram
    kernel: str  # "compare", "skip" or "differs"
    kernel_note: str

    @property
    def prog_type(self) -> str:
        return self.program.prog_type or "socket_filter"

    def options(self) -> VerifierOptions:
        opts = VerifierOptions()
        for item in self.program.options:
            key, _, value = item.partition("=")
            setattr(opts, key, int(value) if value else True)
        return opts


@cache
def load_cases() -> tuple[CorpusCase, ...]:
    protos = default_platform().prototypes
    cases = []
    for path in sorted(CORPUS.rglob("*.s")):
        text = path.read_text()
        m = _KERNEL.search(text)
        kernel, note = (m.group(1), m.group(2)) if m else ("compare", "")
        prog = read_asm_file(str(path), protos)
        cases.append(CorpusCase(path, str(path.relative_to(CORPUS).with_suffix("")), prog, kernel, note))
    return tuple(cases)
