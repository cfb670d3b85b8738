"""``pybpf verify FILE``: run the static verifier on an object file or an assembly file.

FILE is either a clang-built ELF object (every program is verified as the type its section
names, or as ``--type``) or an assembly text file in the kernel syntax, verified as ``--type``
(or the type its ``; type:`` header names).  An assembly file declares the maps it uses in
comments, ``; map NAME TYPE key=K value=V entries=N [readonly] [data=HEX] [inner=NAME]``, and
refers to them as ``map_idx(N)`` or ``map(NAME)`` (see :mod:`pybpf.verifier.source`).

The exit status is 0 when every program is accepted and 1 otherwise.  The default output is
one summary line per program (and, for a rejection, the instruction, the reason and the
registers involved); ``--json`` prints the same facts as JSON; ``--log-level 2`` adds the
verifier's per-instruction state log.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pybpf.errors import PybpfError
from pybpf.verifier.api import default_platform, verify, verify_object
from pybpf.verifier.result import VerifierError, VerifierResult
from pybpf.verifier.source import parse_asm

ELF_MAGIC = b"\x7fELF"


def add_verify_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``verify`` subcommand to the ``pybpf`` parser's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "verify",
        help="statically verify programs (object file or assembly)",
        description="Prove eBPF programs safe for their program type: memory accesses in bounds, no NULL "
        "dereference, helper arguments as declared, termination.  Exit status 0 if every program is accepted.",
    )
    p.add_argument("file", help="ELF object file, or assembly text (kernel syntax) with --type")
    p.add_argument("--section", help="only the program(s) in this section (or with this function name)")
    p.add_argument("--type", dest="prog_type", help="program type (xdp, sched_cls, socket_filter, syscall, ...)")
    p.add_argument("--ctx-size", type=int, default=None, help="context size for raw-context types (syscall)")
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    p.add_argument("--log-level", type=int, default=0, choices=(0, 1, 2), help="verifier log detail (default 0)")
    p.set_defaults(func=cmd_verify)
    return p


def _entry(name: str, section: str, prog_type: str, outcome: VerifierResult | VerifierError) -> dict[str, Any]:
    base: dict[str, Any] = {"name": name, "section": section, "type": prog_type}
    if isinstance(outcome, VerifierError):
        base.update(
            verdict="reject",
            index=outcome.index,
            reason=outcome.reason,
            insn=outcome.insn,
            state=outcome.state,
        )
        if outcome.log:
            base["log"] = outcome.log
        return base
    base.update(outcome.summary())
    base["type"] = outcome.prog_type
    if outcome.log:
        base["log"] = outcome.log
    return base


def _verify_file(args: argparse.Namespace) -> tuple[str, list[dict[str, Any]]]:
    path = Path(args.file)
    data = path.read_bytes()
    if data.startswith(ELF_MAGIC):
        from pybpf.cli.objects import load_object

        obj = load_object(path)
        results = verify_object(
            obj, args.prog_type, section=args.section, log_level=args.log_level, ctx_size=args.ctx_size
        )
        if args.section is not None and not results:
            raise PybpfError(f"{path}: no program in section {args.section!r}")
        by_name = {p.name: p for p in obj.programs}
        entries = []
        for name, result in results.items():
            definition = by_name[name]
            kind = definition.prog_type
            ptype = str(args.prog_type or (kind.name.lower() if kind is not None else "?"))
            entries.append(_entry(name, definition.section, ptype, result))
        return "object", entries
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise PybpfError(f"{path}: neither an ELF object nor assembly text") from None
    platform = default_platform()
    prog = parse_asm(text, platform.prototypes)
    given: str | None = args.prog_type or prog.prog_type
    if given is None:
        raise PybpfError(f"{path}: assembly input needs --type (or a '; type: NAME' line)")
    asm_type: str = given
    ctx_size = args.ctx_size if args.ctx_size is not None else prog.ctx_size
    try:
        outcome: VerifierResult | VerifierError = verify(
            prog.insns, asm_type, maps=prog.maps, platform=platform, log_level=args.log_level, ctx_size=ctx_size
        )
    except VerifierError as exc:
        outcome = exc
    except KeyError as exc:
        raise PybpfError(str(exc.args[0])) from None
    return "assembly", [_entry(path.stem, "", asm_type, outcome)]


def _text_line(e: dict[str, Any]) -> str:
    name = e["name"] + (f" ({e['section']})" if e.get("section") else "")
    if e["verdict"] == "accept":
        return (
            f"{name}: accept [{e['type']}] {e['instructions']} insns, {e['insns_processed']} processed, "
            f"{e['states_explored']} states, {e['time_s'] * 1000:.1f} ms"
        )
    lines = [f"{name}: reject [{e['type']}] at insn {e['index']}: {e['reason']}"]
    if e.get("insn"):
        lines.append(f"    {e['index']}: {e['insn']}")
    if e.get("state"):
        lines.append(f"    {e['state']}")
    return "\n".join(lines)


def cmd_verify(args: argparse.Namespace) -> int:
    kind, entries = _verify_file(args)
    accepted = all(e["verdict"] == "accept" for e in entries)
    if args.json:
        print(json.dumps({"file": args.file, "kind": kind, "accepted": accepted, "programs": entries}, indent=2))
    else:
        for e in entries:
            print(_text_line(e))
            if args.log_level and e.get("log"):
                print(e["log"], end="")
    return 0 if accepted else 1
