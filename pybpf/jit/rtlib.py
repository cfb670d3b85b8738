"""The runtime library: native code every program shares, compiled once per process.

What does not depend on the program -- the region lookup behind every memory check's miss path,
the native map helpers (:mod:`pybpf.jit.maps`), the batch loop (:mod:`pybpf.jit.batch`) and the
capture indexers (:mod:`pybpf.jit.capture`) -- is
not put into each program's module, where LLVM would optimise and generate it again for every
program (and inline the map helpers at every call site): that code was most of the compile time
of small programs (a trivial program took ~35 ms with it, ~10 ms without).  Programs call it
through function pointers in the context (``LOOKUP_FN``, ``MAP_*_FN``); an indirect call costs
about a nanosecond.

The library is compiled at -O2 on first use (~0.1 s) and kept as an object file in the disk cache
like program code (keyed by its sources, llvmlite's version and the host), so later processes
only load it.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from pybpf.jit import abi

_lock = threading.Lock()
_library: RuntimeLibrary | None = None


def ir() -> str:
    """The library's module."""
    from pybpf.jit.batch import batch_function
    from pybpf.jit.capture import ir_functions as capture_functions
    from pybpf.jit.maps import ir_functions

    return "\n".join(
        [
            "; pybpf JIT runtime library",
            "declare i64 @llvm.umin.i64(i64, i64)",
            "declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)",
            "declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)",
            "",
            *lookup_function(),
            *probe_function(),
            *ir_functions(),
            *batch_function(),
            *capture_functions(),
        ]
    )


def lookup_function() -> list[str]:
    """Find the region holding ``[addr, addr + size)`` with the needed permission.

    Returns true after caching its live bounds for the next checks of that kind (regions of at
    least 8 bytes: see "Memory checks" in :mod:`pybpf.jit.lower`), or false after recording the
    fault and the instruction count ``count`` in the context (so the caller only returns).  The
    stack (whose live part moves with calls) is checked first, then the region table.  A write
    to the stack lowers ``DIRTY_LO`` to the live part's bottom (a pointer to the stack was passed
    around).  ``preserve_mostcc``: the callers' registers survive the call, so a miss path costs
    the hot path no spills.  With ``pc`` = :data:`pybpf.jit.abi.QUIET_PC` a miss records nothing
    (a shared range test asks for a range that no single access need fault on).
    """
    return _region_search(probe=False)


def probe_function() -> list[str]:
    """Whether ``[addr, addr + size)`` (any size) lies in one region with the needed permission.

    The guard of a versioned loop (:mod:`pybpf.jit.loops`) asks this once for every range its
    fast copy will access unchecked.  Unlike the lookup it records nothing when the answer is
    no -- the loop then runs its checked copy, which faults where the interpreter would -- and
    it leaves the region caches alone.  A write range on the stack lowers ``DIRTY_LO`` as the
    lookup does, since the fast copy's stores will not pass through the lookup.
    """
    return _region_search(probe=True)


def _region_search(probe: bool) -> list[str]:
    """The lookup (``probe=False``) or the probe: one search, two ways to answer."""
    s = abi
    if probe:
        head = f"define i1 @{s.PROBE_SYMBOL}(ptr %ctx, i64 %addr, i64 %size, i64 %write) noinline nounwind {{"
    else:
        head = (
            f"define preserve_mostcc i1 @{s.LOOKUP_SYMBOL}(ptr %ctx, i64 %addr, i64 %size, i64 %write,"
            " i64 %pc, i64 %count) noinline nounwind {"
        )
    lines = [
        head,
        "entry:",
        f"  %plo = getelementptr i64, ptr %ctx, i64 {s.STACK_LO}",
        "  %slo = load i64, ptr %plo",
        f"  %phi = getelementptr i64, ptr %ctx, i64 {s.STACK_END}",
        "  %shi = load i64, ptr %phi",
        "  %slim = sub i64 %shi, %size",
        "  %s1 = icmp uge i64 %addr, %slo",
        "  %s2 = icmp ule i64 %addr, %slim",
        "  %s3 = icmp uge i64 %shi, %size",
        "  %s12 = and i1 %s1, %s2",
        "  %sin = and i1 %s12, %s3",
        "  br i1 %sin, label %stack, label %scan",
        "stack:",
        f"  %pd = getelementptr i64, ptr %ctx, i64 {s.DIRTY_LO}",
        "  %dl = load i64, ptr %pd",
        "  %isw = icmp ne i64 %write, 0",
        "  %dl2 = call i64 @llvm.umin.i64(i64 %dl, i64 %slo)",
        "  %dl3 = select i1 %isw, i64 %dl2, i64 %dl",
        "  store i64 %dl3, ptr %pd",
        "  br label %cache",
        "scan:",
        f"  %pn = getelementptr i64, ptr %ctx, i64 {s.NREGIONS}",
        "  %n = load i64, ptr %pn",
        f"  %pt = getelementptr i64, ptr %ctx, i64 {s.REGIONS}",
        "  %tv = load i64, ptr %pt",
        "  %tbl = inttoptr i64 %tv to ptr",
        "  %isw2 = icmp ne i64 %write, 0",
        f"  %need = select i1 %isw2, i64 {s.FLAG_WRITE}, i64 {s.FLAG_READ}",
        "  br label %loop",
        "loop:",
        "  %i = phi i64 [0, %scan], [%i1, %next]",
        "  %more = icmp ult i64 %i, %n",
        "  br i1 %more, label %body, label %fail",
        "body:",
        f"  %e = mul i64 %i, {s.REGION_WORDS}",
        "  %ps = getelementptr i64, ptr %tbl, i64 %e",
        "  %start = load i64, ptr %ps",
        "  %pe = getelementptr i64, ptr %ps, i64 1",
        "  %end = load i64, ptr %pe",
        "  %pf = getelementptr i64, ptr %ps, i64 2",
        "  %flags = load i64, ptr %pf",
        "  %elim = sub i64 %end, %size",
        "  %c1 = icmp uge i64 %addr, %start",
        "  %c2 = icmp ule i64 %addr, %elim",
        "  %c3 = icmp uge i64 %end, %size",
        "  %c12 = and i1 %c1, %c2",
        "  %hit = and i1 %c12, %c3",
        "  br i1 %hit, label %found, label %next",
        "next:",
        "  %i1 = add i64 %i, 1",
        "  br label %loop",
        "found:",
        "  %have = and i64 %flags, %need",
        "  %allowed = icmp eq i64 %have, %need",
        "  br i1 %allowed, label %good, label %fail",
        "good:",
        "  br label %cache",
        "cache:",
    ]
    if probe:
        return [*lines, "  ret i1 true", "fail:", "  ret i1 false", "}", ""]
    return [
        *lines,
        "  %lo = phi i64 [%slo, %stack], [%start, %good]",
        "  %hi = phi i64 [%shi, %stack], [%end, %good]",
        "  %span = sub i64 %hi, %lo",
        "  %big = icmp uge i64 %span, 8",
        "  br i1 %big, label %keep, label %yes",
        "keep:",
        "  %w = icmp ne i64 %write, 0",
        f"  %cbase = select i1 %w, i64 {s.WCACHE}, i64 {s.RCACHE}",
        "  %pc0 = getelementptr i64, ptr %ctx, i64 %cbase",
        "  store i64 %lo, ptr %pc0",
        *(
            line
            for k, size in enumerate(s.CACHE_SIZES, 1)
            for line in (
                f"  %lim{size} = sub i64 %span, {size}",
                f"  %pc{k} = getelementptr i64, ptr %pc0, i64 {k}",
                f"  store i64 %lim{size}, ptr %pc{k}",
            )
        ),
        "  br label %yes",
        "yes:",
        "  ret i1 true",
        "fail:",
        f"  %quiet = icmp eq i64 %pc, {s.QUIET_PC}",
        "  br i1 %quiet, label %no, label %record",
        "no:",
        "  ret i1 false",
        "record:",
        f"  %q1 = getelementptr i64, ptr %ctx, i64 {s.STATUS}",
        f"  store i64 {s.STATUS_MEMORY}, ptr %q1",
        f"  %q2 = getelementptr i64, ptr %ctx, i64 {s.FAULT_PC}",
        "  store i64 %pc, ptr %q2",
        f"  %q3 = getelementptr i64, ptr %ctx, i64 {s.FAULT_ADDR}",
        "  store i64 %addr, ptr %q3",
        f"  %q4 = getelementptr i64, ptr %ctx, i64 {s.FAULT_SIZE}",
        "  store i64 %size, ptr %q4",
        f"  %q5 = getelementptr i64, ptr %ctx, i64 {s.FAULT_WRITE}",
        "  store i64 %write, ptr %q5",
        f"  %q6 = getelementptr i64, ptr %ctx, i64 {s.COUNT}",
        "  store i64 %count, ptr %q6",
        "  ret i1 false",
        "}",
        "",
    ]


class RuntimeLibrary:
    """The loaded library; owns its MCJIT engine, so the addresses live as long as it does."""

    def __init__(self, obj: bytes) -> None:
        from pybpf.jit.capture import PCAP_SYMBOL, PCAPNG_SYMBOL
        from pybpf.jit.compiler import load_object

        names = [abi.LOOKUP_SYMBOL, *abi.MAP_SYMBOLS, abi.BATCH_SYMBOL, PCAP_SYMBOL, PCAPNG_SYMBOL, abi.PROBE_SYMBOL]
        self._engine, addresses = load_object(obj, names)
        self.lookup, self.map_lookup, self.map_update, self.map_delete, self.batch = addresses[:5]
        self.index_pcap, self.index_pcapng, self.probe = addresses[5:]

    def slots(self) -> list[tuple[int, int]]:
        """(context slot, address) pairs a runner writes into its context."""
        return [
            (abi.LOOKUP_FN, self.lookup),
            (abi.MAP_LOOKUP_FN, self.map_lookup),
            (abi.MAP_UPDATE_FN, self.map_update),
            (abi.MAP_DELETE_FN, self.map_delete),
            (abi.PROBE_FN, self.probe),
        ]


def _key() -> str:
    from pybpf.jit.cache import _llvmlite_version
    from pybpf.jit.compiler import host_signature

    h = hashlib.sha256(b"pybpf-rtlib;")
    for name in ("rtlib.py", "maps.py", "batch.py", "capture.py", "abi.py", "compiler.py"):
        h.update(Path(__file__).with_name(name).read_bytes())
    h.update(f"{_llvmlite_version()};{host_signature()}".encode())
    return "rtlib-" + h.hexdigest()


def runtime_library() -> RuntimeLibrary:
    """The process's library: loaded from the disk cache, or compiled (and stored) once."""
    global _library
    if _library is None:
        with _lock:
            if _library is None:
                from pybpf.jit.cache import disk_get, disk_put
                from pybpf.jit.compiler import compile_object

                name = _key()
                obj = disk_get(name)
                if obj is None:
                    obj = compile_object(ir(), 2)
                    disk_put(name, obj)
                _library = RuntimeLibrary(obj)
    return _library


def library_loaded() -> bool:
    """Whether this process has the library already (the tiered engine's cost estimate uses it)."""
    return _library is not None
