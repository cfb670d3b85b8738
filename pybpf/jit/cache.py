"""The compile cache: loaded native code in memory, object files on disk.

LLVM takes milliseconds to tens of milliseconds per program, far more than running most programs,
so compiled code is reused at two levels:

* **In memory**, keyed by :func:`program_key`: every engine of this process that runs the same
  bytecode with the same options shares one :class:`~pybpf.jit.compiler.NativeCode` (the code
  holds no addresses; all machine state comes from each engine's context).  Least recently used
  entries are dropped beyond :data:`MEMORY_ENTRIES`; engines keep their own reference, so
  dropping an entry never frees code that is still in use.
* **On disk**, as object files under :func:`cache_dir`, keyed additionally by the host signature
  (LLVM version, triple, CPU and its features), so a second process pays only the object load
  (about a millisecond).  Each file starts with a magic line and the SHA-256 of the object; a
  file that does not match is ignored and rewritten, so a truncated or corrupted file can never
  be handed to the object loader.  Files are written atomically (temporary file + rename), and a
  cache directory that cannot be written just means no disk cache.

The program key covers the bytecode, the options that change the generated code (stack size,
call depth, verifier-proven accesses, optimisation level), the llvmlite version and a hash of the
JIT's own lowering source, so editing the lowering can never resurrect stale code.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import Form
from pybpf.jit.compiler import CompileTimes, NativeCode, compile_object, host_signature

ENV_DIR = "PYBPF_CACHE_DIR"
MEMORY_ENTRIES = 256
_MAGIC = b"pybpf-jit-object-2\n"
_lock = threading.Lock()
_memory: OrderedDict[str, NativeCode] = OrderedDict()


def _source_hash() -> bytes:
    """Hash of the sources that decide the generated code (read as files: importing the lowering
    is not needed to look a program up)."""
    h = hashlib.sha256()
    for name in ("lower.py", "loops.py", "abi.py", "maps.py", "batch.py", "rtlib.py", "compiler.py"):
        h.update(Path(__file__).with_name(name).read_bytes())
    return h.digest()


_SOURCE_HASH: bytes | None = None


def _llvmlite_version() -> str:
    try:
        import llvmlite  # type: ignore[import-untyped]  # cheap: does not load LLVM
    except ImportError:
        return "none"
    return str(llvmlite.__version__)


def program_key(
    code: bytes,
    *,
    stack_size: int,
    max_call_depth: int,
    safe: Iterable[int],
    opt_level: int,
    table_helpers: Iterable[int] = (),
) -> str:
    """Hex key of the native code for ``code`` with these options, valid within one host."""
    global _SOURCE_HASH
    if _SOURCE_HASH is None:
        _SOURCE_HASH = _source_hash()
    h = hashlib.sha256()
    h.update(_SOURCE_HASH)
    options = f"llvmlite={_llvmlite_version()};stack={stack_size};depth={max_call_depth};opt={opt_level};"
    h.update(options.encode())
    h.update(",".join(str(i) for i in sorted(set(safe))).encode() + b";")
    h.update(b"table=" + ",".join(str(i) for i in sorted(set(table_helpers))).encode() + b";")
    h.update(code)
    return h.hexdigest()


# -- memory ----------------------------------------------------------------------------------------
def memory_get(key: str) -> NativeCode | None:
    with _lock:
        native = _memory.get(key)
        if native is not None:
            _memory.move_to_end(key)
        return native


def memory_empty() -> bool:
    """True when nothing has been compiled in this process (lets callers skip computing a key)."""
    return not _memory


def memory_put(key: str, native: NativeCode) -> None:
    with _lock:
        _memory[key] = native
        _memory.move_to_end(key)
        while len(_memory) > MEMORY_ENTRIES:
            _memory.popitem(last=False)


def memory_clear() -> None:
    """Forget every in-memory entry (benchmarks use it to measure cold and disk-warm compiles)."""
    with _lock:
        _memory.clear()


# -- disk -------------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """``$PYBPF_CACHE_DIR``, else ``$XDG_CACHE_HOME/pybpf``, else ``~/.cache/pybpf``; objects go in ``jit/``."""
    explicit = os.environ.get(ENV_DIR)
    if explicit:
        return Path(explicit) / "jit"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "pybpf" / "jit"


def disk_key(key: str, host: str) -> str:
    return hashlib.sha256(f"{key};{host}".encode()).hexdigest()


def disk_get(name: str) -> bytes | None:
    """The object stored under ``name``, or None if absent or not intact."""
    path = cache_dir() / f"{name}.o"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC) + 32
    if len(data) <= head or not data.startswith(_MAGIC):
        return None
    digest, obj = data[len(_MAGIC) : head], data[head:]
    if hashlib.sha256(obj).digest() != digest:
        return None
    return obj


def disk_put(name: str, obj: bytes) -> bool:
    """Store an object; False (and no exception) when the cache directory is not writable."""
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".o", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + hashlib.sha256(obj).digest() + obj)
            os.replace(tmp, directory / f"{name}.o")
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return False
    return True


def native_code(
    insns: Sequence[Instruction],
    forms: Sequence[Form],
    *,
    stack_size: int,
    max_call_depth: int,
    safe: frozenset[int],
    opt_level: int,
    use_cache: bool = True,
    table_helpers: frozenset[int] = frozenset(),
) -> tuple[NativeCode, CompileTimes]:
    """Native code for a validated program: from memory, from disk, or compiled (and stored)."""
    times = CompileTimes()
    code = b"".join(i.encode() for i in insns)
    key = program_key(
        code,
        stack_size=stack_size,
        max_call_depth=max_call_depth,
        safe=safe,
        opt_level=opt_level,
        table_helpers=table_helpers,
    )
    if use_cache:
        native = memory_get(key)
        if native is not None:
            times.source = "memory"
            return native, times
    name = disk_key(key, host_signature())
    obj = disk_get(name) if use_cache else None
    if obj is not None:
        times.source = "disk"
    else:
        from pybpf.jit import lower

        t0 = time.perf_counter()
        ir = lower.lower(insns, forms, lower.LoweringOptions(stack_size, max_call_depth, safe, table_helpers))
        times.lower_ms = (time.perf_counter() - t0) * 1e3
        obj = compile_object(ir, opt_level, times)
        if use_cache:
            disk_put(name, obj)
    t0 = time.perf_counter()
    native = NativeCode(obj)
    times.load_ms = (time.perf_counter() - t0) * 1e3
    if use_cache:
        memory_put(key, native)
    return native, times
