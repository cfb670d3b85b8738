"""The ``pybpf`` command.

Each subcommand is a small function over the library API.  Errors a user can cause are
:class:`~pybpf.errors.PybpfError` (or OS errors on their files): they are printed as one line on
stderr with exit status 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pybpf.errors import PybpfError
from pybpf.isa.assembler import assemble
from pybpf.isa.disassembler import disassemble_one, listing
from pybpf.isa.instruction import Instruction, encode_program, load_program
from pybpf.vm.interpreter import TraceStep

ELF_MAGIC = b"\x7fELF"


def read_program(path: Path) -> list[Instruction]:
    """Raw bytecode or assembly text, told apart by content."""
    data = path.read_bytes()
    if data.startswith(ELF_MAGIC):
        raise PybpfError(f"{path}: ELF objects are not supported by this command yet; give raw bytecode or assembly")
    if _is_text(data):
        return assemble(data.decode())
    return load_program(data)


def _is_text(data: bytes) -> bool:
    if b"\0" in data:
        return False
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def cmd_asm(args: argparse.Namespace) -> int:
    insns = assemble(Path(args.file).read_text())
    raw = encode_program(insns)
    if args.output:
        Path(args.output).write_bytes(raw)
    else:
        sys.stdout.buffer.write(raw)
    return 0


def cmd_disasm(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if path.read_bytes()[:4] == ELF_MAGIC:
        from pybpf.cli.objects import disassemble_object

        print(disassemble_object(path), end="")
        return 0
    print(listing(read_program(path)))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from pybpf.cli.objects import inspect_object

    print(inspect_object(Path(args.file), args.json), end="" if not args.json else "\n")
    return 0


def _memory_arg(args: argparse.Namespace) -> bytes | None:
    if args.mem is not None and args.mem_file is not None:
        raise PybpfError("give --mem or --mem-file, not both")
    if args.mem is not None:
        try:
            return bytes.fromhex(args.mem.replace(" ", ""))
        except ValueError:
            raise PybpfError(f"--mem: not hex bytes: {args.mem!r}") from None
    if args.mem_file is not None:
        return Path(args.mem_file).read_bytes()
    return None


def cmd_run(args: argparse.Namespace) -> int:
    from pybpf.engine import make_engine

    path = Path(args.file)
    mem = _memory_arg(args)
    options = {"budget": args.budget} if args.budget else {}
    engine = "interp" if args.trace else args.engine
    if path.read_bytes()[:4] == ELF_MAGIC:
        return _run_object(args, path, mem, engine)
    insns = read_program(path)
    vm = make_engine(insns, engine=engine, **options)
    r0 = _trace(vm, insns, mem) if args.trace else vm.run(mem)
    print(f"0x{r0:x}")
    return 0


def _trace(vm: Any, insns: Sequence[Instruction], mem: bytes | None) -> int:
    from pybpf.vm.memory import Region

    region = Region("mem", bytearray(mem)) if mem is not None else None
    regs = [0] * 11
    if region is not None:
        vm.memory.add(region)
        vm.packet = region
        regs[1], regs[2] = region.base if region.size else 0, region.size
    return int(vm.trace(regs, lambda step: print(_trace_line(insns, step))))


def _run_object(args: argparse.Namespace, path: Path, mem: bytes | None, engine: str) -> int:
    """Run one program of an object with r1 pointing at the input memory (a caller buffer)."""
    import pybpf.progtypes.devmap  # noqa: F401  (DEVMAP, CPUMAP, XSKMAP maps for packet programs)
    from pybpf.object import load

    obj = load(path, engine=engine)
    if args.section:
        program = obj.program(args.section)
    elif len(obj.programs) == 1:
        (program,) = obj.programs.values()
    else:
        names = ", ".join(f"{p.name} ({p.section})" for p in obj.programs.values())
        raise PybpfError(f"{path} has several programs; choose one with --section: {names}")
    if args.budget:
        program.engine.budget = args.budget
    if args.pcap:
        from pybpf.progtypes.pcaprun import run_pcap

        return run_pcap(args, obj, program)
    buffer = bytearray(mem) if mem is not None else None
    if args.trace:
        r0 = _trace(program.engine, program.definition.insns, mem)
    else:
        r0 = program.run(buffer)
    print(f"0x{r0:x}")
    from pybpf.progtypes.pcaprun import non_empty_maps

    for name in non_empty_maps(obj):
        print(obj.maps[name].dump())
    return 0


def _trace_line(insns: Sequence[Instruction], step: TraceStep) -> str:
    insn = insns[step.pc]
    text = disassemble_one(insn, insns[step.pc + 1] if insn.opcode == 0x18 and step.pc + 1 < len(insns) else None)
    changes = [f"r{i}=0x{v:x}" for i, v in sorted(step.regs_changed.items())]
    changes += [f"[0x{addr:x}]:{size}=0x{value:x}" for addr, size, value in step.stores]
    return f"{step.pc:>6}: {text:<40} {' '.join(changes)}".rstrip()


def cmd_map_dump(args: argparse.Namespace) -> int:
    from pybpf.maps import dump_pinned

    if args.btf is None:
        if args.map is not None:
            raise PybpfError("--map needs --btf")
        print(dump_pinned(args.path))
        return 0
    from pybpf.cli.objects import pinned_formats

    print(dump_pinned(args.path, pinned_formats(Path(args.btf), args.map)))
    return 0


def cmd_conformance_plugin(args: argparse.Namespace) -> int:
    from pybpf.conformance import plugin_main

    argv = ([args.memory] if args.memory else []) + list(args.rest) + list(args.unknown)
    code, out = plugin_main(argv, sys.stdin.read(), engine=args.engine)
    print(out)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pybpf", description="A user-space eBPF platform for Python.")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "asm",
        help="assemble text into raw bytecode",
        description="Assemble eBPF text (kernel or conformance syntax) into raw bytecode.",
    )
    p.add_argument("file", help="assembly text file")
    p.add_argument("-o", "--output", help="write bytecode here (default: standard output)")
    p.set_defaults(func=cmd_asm)

    p = sub.add_parser(
        "disasm",
        help="disassemble an object file, raw bytecode or assembly",
        description="Print programs in the kernel / llvm-objdump syntax; for an ELF object every program, "
        "with its sub-programs and relocations resolved to map, variable, function and helper names.",
    )
    p.add_argument("file", help="ELF object, raw bytecode or assembly text")
    p.set_defaults(func=cmd_disasm)

    p = sub.add_parser(
        "inspect",
        help="list the programs, maps and data sections of an object file",
        description="List programs (section, type, instruction count), maps (type, key/value size, entries, "
        "pinning) and global data sections of a clang-built eBPF object.",
    )
    p.add_argument("file", help="ELF object file")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser(
        "run",
        help="run a program and print r0",
        description="Run an object's program, raw bytecode or assembly text and print r0 in hex "
        "(and, for an object, the maps the run left non-empty).",
    )
    p.add_argument("file", help="ELF object, raw bytecode or assembly text")
    p.add_argument("--section", help="program (function or section name) to run from an object file")
    p.add_argument("--mem", help="input memory as hex bytes (r1 points at it, r2 is its length)")
    p.add_argument("--mem-file", help="input memory from a file")
    p.add_argument("--trace", action="store_true", help="print every executed instruction and what it changed")
    p.add_argument(
        "--engine", default="auto", choices=("interp", "jit", "auto"), help="execution engine (default auto)"
    )
    p.add_argument("--budget", type=int, default=0, help="instruction budget (default 10,000,000)")
    from pybpf.progtypes.pcaprun import add_pcap_arguments

    add_pcap_arguments(p)
    p.set_defaults(func=cmd_run)

    from pybpf.progtypes.switch import add_switch_parser

    add_switch_parser(sub)

    from pybpf.cli.verify import add_verify_parser

    add_verify_parser(sub)

    from pybpf.cli.plugin import add_plugin_parser

    add_plugin_parser(sub)

    from pybpf.cli.quic import add_quic_parser

    add_quic_parser(sub)

    p = sub.add_parser("map", help="work with pinned maps", description="Inspect maps pinned to files.")
    map_sub = p.add_subparsers(dest="map_command", required=True)
    dump = map_sub.add_parser(
        "dump",
        help="print a pinned map",
        description="Print a pinned map's type, sizes and entries: in hex, or decoded through the BTF of "
        "the object that defines the map (--btf), as bpftool does for maps with BTF.",
    )
    dump.add_argument("path", help="the pin file")
    dump.add_argument("--btf", metavar="OBJ.o", help="decode keys and values with the BTF of this object file")
    dump.add_argument("--map", metavar="NAME", help="the map's name in that object (default: the pinned map's name)")
    dump.set_defaults(func=cmd_map_dump)

    p = sub.add_parser(
        "conformance-plugin",
        help="speak the bpf_conformance plugin protocol",
        description="Plugin for the bpf_conformance runner: program as hex on stdin, memory as hex in the first argument, r0 in hex on stdout.",
    )
    p.add_argument("memory", nargs="?", help="input memory as hex text (absent when the test has none)")
    p.add_argument("rest", nargs="*", help="further plugin options passed by the runner (--elf is refused)")
    p.add_argument("--engine", default="auto", choices=("interp", "jit", "auto"), help="execution engine")
    p.set_defaults(func=cmd_conformance_plugin)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "conformance-plugin":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.unknown = unknown
    try:
        result: int = args.func(args)
        return result
    except BrokenPipeError:  # output piped into head and the like
        sys.stderr.close()
        return 0
    except (PybpfError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
        else:
            print(f"pybpf {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
