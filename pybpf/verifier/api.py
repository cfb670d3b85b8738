"""The entry points: :func:`verify` for one program, :func:`verify_object` for an ELF object."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pybpf.isa.instruction import Instruction, decode_program
from pybpf.progtypes.platform import Platform, ProgTypeSpec, linux_platform, with_context_size
from pybpf.progtypes.sections import ProgType
from pybpf.verifier.analyzer import Analyzer
from pybpf.verifier.cfg import analyze_structure
from pybpf.verifier.mapinfo import MapInfo, map_infos
from pybpf.verifier.result import VerifierError, VerifierOptions, VerifierResult

_DEFAULT_PLATFORM: Platform | None = None


def default_platform() -> Platform:
    global _DEFAULT_PLATFORM
    if _DEFAULT_PLATFORM is None:
        _DEFAULT_PLATFORM = linux_platform()
    return _DEFAULT_PLATFORM


def resolve_prog_type(
    prog_type: str | ProgType | ProgTypeSpec, platform: Platform, ctx_size: int | None = None
) -> ProgTypeSpec:
    spec = prog_type if isinstance(prog_type, ProgTypeSpec) else platform.prog_type(prog_type)
    if ctx_size is not None and spec.ctx.raw:
        spec = with_context_size(spec, ctx_size)
    return spec


def verify(
    program: Sequence[Instruction] | bytes,
    prog_type: str | ProgType | ProgTypeSpec = "syscall",
    *,
    maps: Sequence[Any] = (),
    platform: Platform | None = None,
    options: VerifierOptions | None = None,
    log_level: int = 0,
    ctx_size: int | None = None,
) -> VerifierResult:
    """Prove ``program`` safe for ``prog_type`` or raise :class:`VerifierError`.

    ``maps`` are the maps the program's ``lddw map_idx`` / ``map_idx_value`` instructions index
    (loader ``MapDefinition`` objects or :class:`MapInfo`).  ``ctx_size`` overrides the declared
    context size of raw-context types (``syscall``).  ``log_level`` 1 keeps a log of the
    rejection, 2 the state at every processed instruction.
    """
    platform = platform or default_platform()
    options = options or VerifierOptions()
    insns = decode_program(program) if isinstance(program, (bytes, bytearray)) else list(program)
    spec = resolve_prog_type(prog_type, platform, ctx_size)
    infos: list[MapInfo] = map_infos(maps)
    info = analyze_structure(insns)
    analyzer = Analyzer(info, spec, platform, infos, options, log_level)
    return analyzer.run()


def verify_object(
    obj: Any,
    prog_type: str | ProgType | ProgTypeSpec | None = None,
    *,
    section: str | None = None,
    platform: Platform | None = None,
    options: VerifierOptions | None = None,
    log_level: int = 0,
    ctx_size: int | None = None,
) -> dict[str, VerifierResult | VerifierError]:
    """Verify every program of a loaded object (:class:`pybpf.elf.loader.ElfObject`).

    Each program is verified as ``prog_type`` if given, else as the type its section implies.
    Returns program name -> result or error (errors are returned, not raised, so that one bad
    program does not hide the verdicts of the others).
    """
    platform = platform or default_platform()
    out: dict[str, VerifierResult | VerifierError] = {}
    for prog in obj.programs:
        if section is not None and prog.section != section and prog.name != section:
            continue
        ptype: str | ProgType | ProgTypeSpec | None = prog_type if prog_type is not None else prog.prog_type
        try:
            if ptype is None:
                raise VerifierError(0, f"section {prog.section!r} does not name a program type; pass one")
            out[prog.name] = verify(
                prog.insns,
                ptype,
                maps=obj.maps,
                platform=platform,
                options=options,
                log_level=log_level,
                ctx_size=ctx_size,
            )
        except KeyError as exc:
            out[prog.name] = VerifierError(0, str(exc.args[0]) if exc.args else str(exc))
        except VerifierError as exc:
            out[prog.name] = exc
    return out
