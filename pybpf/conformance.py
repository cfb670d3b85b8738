"""The bpf_conformance suite: its ``.data`` test files and its plugin protocol.

pybpf does not ship the test vectors; it reads them from a directory (``$PYBPF_CONFORMANCE_DIR``,
or ``shared/conformance/tests`` beside the project checkout).  The parser follows the format the
upstream runner reads: ``-- asm`` / ``-- raw`` / ``-- mem`` / ``-- result`` / ``-- error`` sections,
``#`` comments.  The plugin side (:func:`plugin_main`) speaks the runner's protocol: the program
as hex text on standard input, the memory as hex in the first argument when present, r0 printed
in hex on success, a non-zero exit with the reason on failure.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pybpf.errors import PybpfError
from pybpf.isa.assembler import assemble
from pybpf.isa.instruction import Instruction, decode_program, encode_program

ENV_VAR = "PYBPF_CONFORMANCE_DIR"
# Conformance programs are tiny; a budget stops a runaway one, since the runner has no timeout.
PLUGIN_BUDGET = 10_000_000


@dataclass
class ConformanceCase:
    name: str
    program: list[Instruction]
    memory: bytes
    result: int | None
    error: str | None


class ConformanceFormatError(PybpfError):
    pass


def find_directory(start: Path | None = None) -> Path | None:
    """Where the test vectors are: the environment variable, or ``shared/`` beside the checkout."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "conformance" / "tests"
        if candidate.is_dir():
            return candidate
    return None


_SECTIONS = ("asm", "result", "mem", "raw", "no register offset", " c", "error")


def parse_data(text: str, name: str = "<data>") -> ConformanceCase | None:
    """Parse one ``.data`` file; None when the upstream runner would skip it."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if "#" in line:
            line = line[: line.index("#")]
        if not line.strip():
            continue
        if "--" in line:
            kind = next((s for s in _SECTIONS if s in line), None)
            if kind is None:
                return None
            current = kind
            sections.setdefault(current, [])
            continue
        if current is None:
            raise ConformanceFormatError(f"{name}: text before the first section: {line.strip()!r}")
        sections[current].append(line)
    if "result" not in sections and "error" not in sections:
        return None
    if "raw" in sections:
        words = " ".join(sections["raw"]).split()
        program = decode_program(b"".join(int(w, 0).to_bytes(8, "little") for w in words))
    else:
        program = assemble("\n".join(sections.get("asm", [])), check=False)
    memory = bytes(int(b, 16) for b in " ".join(sections.get("mem", [])).split())
    result: int | None = None
    if sections.get("result"):
        last = sections["result"][-1].strip()
        result = int(last, 16) if "0x" in last else int(last)
    elif "error" in sections:
        result = 0
    error = sections["error"][-1].strip() if sections.get("error") else None
    return ConformanceCase(name, program, memory, result, error)


def load_directory(directory: Path) -> list[ConformanceCase]:
    cases = []
    for path in sorted(directory.glob("*.data")):
        case = parse_data(path.read_text(), path.name)
        if case is not None:
            cases.append(case)
    return cases


def run_case(case: ConformanceCase, engine: str = "interp") -> int:
    """r0 of one conformance program, run the way the plugin runs it."""
    from pybpf.engine import make_engine

    vm = make_engine(case.program, engine=engine, budget=PLUGIN_BUDGET)
    return vm.run(case.memory)


def hex_text(data: bytes) -> str:
    """The runner's hex format: two lowercase digits and two spaces per byte."""
    return "".join(f"{b:02x}  " for b in data)


def parse_hex_text(text: str) -> bytes:
    return bytes(int(tok, 16) for tok in text.split())


def plugin_main(argv: Sequence[str], stdin_text: str, engine: str = "interp") -> tuple[int, str]:
    """One plugin invocation: returns (exit code, text for stdout)."""
    memory = b""
    args = list(argv)
    if args and not args[0].startswith("--"):
        memory = parse_hex_text(args.pop(0))
    if "--elf" in args:
        return 1, "Failed to load code: ELF input is not supported by this plugin"
    try:
        code = parse_hex_text(stdin_text)
    except ValueError as exc:
        return 1, f"Failed to load code: bad hex on standard input ({exc})"
    try:
        program = decode_program(code)
        from pybpf.engine import make_engine

        vm = make_engine(program, engine=engine, budget=PLUGIN_BUDGET)
    except PybpfError as exc:
        return 1, f"Failed to load code: {exc}"
    try:
        r0 = vm.run(memory)
    except PybpfError as exc:
        return 1, f"Failed to run code: {exc}"
    return 0, f"{r0:x}"


def encode_for_plugin(case: ConformanceCase) -> tuple[list[str], str]:
    """argv and stdin the upstream runner would give the plugin for ``case`` (for tests)."""
    argv = [hex_text(case.memory)] if case.memory else []
    return argv, hex_text(encode_program(case.program)) + "\n"


if __name__ == "__main__":  # pragma: no cover - use ``pybpf conformance-plugin``
    code, out = plugin_main(sys.argv[1:], sys.stdin.read())
    print(out)
    sys.exit(code)
