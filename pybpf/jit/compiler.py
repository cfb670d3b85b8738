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


def compile_object(ir: str, opt_level: int, times: CompileTimes | None = None) -> bytes:
    """Parse, verify, optimise (new pass manager at ``opt_level``) and emit an object file."""
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
        tm = _target_machine(opt_level)
        if opt_level > 0:
            pto = b.create_pipeline_tuning_options(speed_level=min(opt_level, 3))
            pb = b.create_pass_builder(tm, pto)
            pb.getModulePassManager().run(module, pb)
        t2 = time.perf_counter()
        obj: bytes = tm.emit_object(module)
        t3 = time.perf_counter()
    times.parse_ms += (t1 - t0) * 1e3
    times.optimise_ms += (t2 - t1) * 1e3
    times.codegen_ms += (t3 - t2) * 1e3
    return obj


class NativeCode:
    """An object file loaded into this process.

    The instance owns the MCJIT engine that holds the code: ``address`` stays valid exactly as
    long as this object is alive, so every engine running the code keeps a reference to it.
    """

    def __init__(self, obj: bytes) -> None:
        b = llvm()
        self.object = obj
        with _lock:
            try:
                engine = b.create_mcjit_compiler(b.parse_assembly(""), _target_machine(2))
                engine.add_object_file(b.ObjectFileRef.from_data(obj))
                engine.finalize_object()
                address = int(engine.get_function_address(abi.ENTRY_SYMBOL))
                call_address = int(engine.get_function_address(abi.CALL_SYMBOL))
                run_address = int(engine.get_function_address(abi.RUN_SYMBOL))
                ctx_global = int(engine.get_global_value_address(abi.CTX_GLOBAL))
            except RuntimeError as exc:
                raise JitError(f"cannot load JIT object code: {exc}") from exc
        if not (address and call_address and run_address and ctx_global):
            raise JitError("JIT object code lacks one of its entry points")
        self._engine = engine
        self.address = address
        self.call_address = call_address
        self.run_address = run_address
        self.ctx_global = ctx_global
        self.bound = 0  # the context address the code's global points at (runners take turns)
