"""llvmlite glue: IR text to optimised object code, and object code to callable native code.

Compilation always goes through an object file (``TargetMachine.emit_object``) which is then
loaded into an MCJIT execution engine.  That one path serves fresh compiles and the disk cache
alike, and code generation runs exactly once per program.  Following the measured llvmlite facts
(``shared/notes/performance.md`` section 2.1): the native target is initialised with
``initialize_native_target``/``initialize_native_asmprinter``, optimisation uses the new pass
manager, and every execution engine gets its own ``TargetMachine`` (MCJIT takes ownership of it).

llvmlite is imported lazily: importing ``llvmlite.binding`` loads LLVM (30-100 ms), which a
one-shot run through the tiered engine must not pay.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pybpf.errors import PybpfError
from pybpf.jit import abi

_lock = threading.RLock()  # LLVM's global context is not thread-safe; compile one module at a time
_llvm_module: Any = None


class JitError(PybpfError):
    """The JIT could not compile or load a program (an LLVM error, not a fault of the program)."""


def llvm() -> Any:
    """``llvmlite.binding``, imported and initialised on first use."""
    global _llvm_module
    if _llvm_module is None:
        with _lock:
            if _llvm_module is None:
                import llvmlite.binding as binding  # type: ignore[import-untyped]

                binding.initialize_native_target()
                binding.initialize_native_asmprinter()
                _llvm_module = binding
    return _llvm_module


def host_signature() -> str:
    """What object code depends on besides the program: LLVM version, target triple, CPU."""
    b = llvm()
    version = ".".join(str(x) for x in b.llvm_version_info)
    return f"llvm={version};triple={b.get_process_triple()};cpu={b.get_host_cpu_name()};{_features()}"


_feature_string: str | None = None


def _features() -> str:
    global _feature_string
    if _feature_string is None:
        try:
            _feature_string = str(llvm().get_host_cpu_features().flatten())
        except RuntimeError:  # some hosts cannot report features; fall back to the CPU's defaults
            _feature_string = ""
    return _feature_string


def _target_machine(opt_level: int) -> Any:
    b = llvm()
    target = b.Target.from_triple(b.get_process_triple())
    return target.create_target_machine(
        cpu=b.get_host_cpu_name(), features=_features(), opt=min(max(opt_level, 0), 3), codemodel="jitdefault"
    )


@dataclass
class CompileTimes:
    """Where the time of one compile went, in milliseconds."""

    lower_ms: float = 0.0
    parse_ms: float = 0.0
    optimise_ms: float = 0.0
    codegen_ms: float = 0.0
    load_ms: float = 0.0
    source: str = "compiled"  # "compiled", "disk" or "memory"
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def total_ms(self) -> float:
        return self.lower_ms + self.parse_ms + self.optimise_ms + self.codegen_ms + self.load_ms


# The IR passes of the optimisation levels below 3.  Measured on the benchmark programs
# (bench/run_all.py) and the loops of bench/jit_vs_interp.py, LLVM's whole -O2 pipeline (~80 passes)
# made code no faster than these five (SROA turns the register, counter and promoted-frame allocas
# into SSA; InstCombine, SimplifyCFG, SCCP and DCE clean up what the templates leave) -- the region
# checks and the budget structure leave little for loop transformations to do -- while costing
# about half of a compile.  The exception is loops that LLVM's scalar evolution can turn into a
# closed form: level 3 keeps the full pipeline for them.
LIGHT_PASSES = ("sroa", "instruction_combine", "simplify_cfg", "sccp", "dead_code_elimination")


def compile_object(ir: str, opt_level: int, times: CompileTimes | None = None) -> bytes:
    """Parse, verify, optimise and emit an object file.

    ``opt_level``: 0 = no IR passes and LLVM's fast instruction selection and register
    allocation (fastest compile, slowest code); 1 = SROA only (registers and private frames
    become SSA values) with the same fast code generation -- about 2.5x quicker to compile than
    level 2 for code 1.5-4x slower (``bench/jit_vs_interp.py``); 2 = :data:`LIGHT_PASSES` with
    code generation at -O2 (the default); 3 = LLVM's own -O2 pipeline (new pass manager) with -O3
    code generation.
    """
    b = llvm()
    times = times if times is not None else CompileTimes()
    with _lock:
        t0 = time.perf_counter()
        try:
            module = b.parse_assembly(ir)
            module.verify()
        except RuntimeError as exc:  # a lowering bug; report it instead of crashing later
            raise JitError(f"generated LLVM IR does not verify: {exc}") from exc
        t1 = time.perf_counter()
        tm = _target_machine(0 if opt_level == 1 else opt_level)
        if opt_level == 1:
            mpm = b.create_new_module_pass_manager()
            mpm.add_sroa_pass()
            mpm.run(module, b.create_pass_builder(tm, b.create_pipeline_tuning_options(speed_level=1)))
        elif opt_level > 1:
            pto = b.create_pipeline_tuning_options(speed_level=2)
            pb = b.create_pass_builder(tm, pto)
            if opt_level >= 3:
                pb.getModulePassManager().run(module, pb)
            else:
                mpm = b.create_new_module_pass_manager()
                for name in LIGHT_PASSES:
                    getattr(mpm, f"add_{name}_pass")()
                mpm.run(module, pb)
        t2 = time.perf_counter()
        obj: bytes = tm.emit_object(module)
        t3 = time.perf_counter()
    times.parse_ms += (t1 - t0) * 1e3
    times.optimise_ms += (t2 - t1) * 1e3
    times.codegen_ms += (t3 - t2) * 1e3
    return obj


def load_object(obj: bytes, functions: Sequence[str], globals_: Sequence[str] = ()) -> tuple[Any, list[int]]:
    """Load an object file into a new MCJIT engine; the engine (which owns the code) and the
    addresses of ``functions`` then ``globals_``, all of which must exist."""
    b = llvm()
    with _lock:
        try:
            engine = b.create_mcjit_compiler(b.parse_assembly(""), _target_machine(2))
            engine.add_object_file(b.ObjectFileRef.from_data(obj))
            engine.finalize_object()
            addresses = [int(engine.get_function_address(f)) for f in functions]
            addresses += [int(engine.get_global_value_address(g)) for g in globals_]
        except RuntimeError as exc:
            raise JitError(f"cannot load JIT object code: {exc}") from exc
    if not all(addresses):
        raise JitError("JIT object code lacks one of its entry points")
    return engine, addresses


class NativeCode:
    """A program's object file loaded into this process.

    The instance owns the MCJIT engine that holds the code: ``address`` stays valid exactly as
    long as this object is alive, so every engine running the code keeps a reference to it.
    """

    def __init__(self, obj: bytes) -> None:
        self.object = obj
        engine, (address, call_address, run_address, ctx_global) = load_object(
            obj, [abi.ENTRY_SYMBOL, abi.CALL_SYMBOL, abi.RUN_SYMBOL], [abi.CTX_GLOBAL]
        )
        self._engine = engine
        self.address = address
        self.call_address = call_address
        self.run_address = run_address
        self.ctx_global = ctx_global
        self.bound = 0  # the context address the code's global points at (runners take turns)
