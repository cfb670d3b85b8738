"""Native map helpers: ``bpf_map_lookup_elem``, ``_update_elem`` and ``_delete_elem`` without Python.

A helper call from JIT code costs about a microsecond when it goes through Python (the ctypes
callback, the helper, the memory model).  For the map types programs use most, the same
operations are done here in native code, directly on the maps' buffers, whose layouts
(:mod:`pybpf.maps.array`, :mod:`pybpf.maps.hash`, :mod:`pybpf.maps.hashing`) were designed for
exactly that.  Results, error codes and map contents are identical to the Python helpers.

How a call is routed
--------------------
Generated code calls ``@pybpf_map_lookup/update/delete`` for helper ids 1, 2 and 3.  They return
``{result, handled}``; when ``handled`` is false the call goes to Python as any other helper, so
native code only ever takes the cases it knows to be exact.  Native code knows a map through a
*descriptor* in a per-engine table (:class:`NativeMaps`): handle, kind, the buffer address and
the layout numbers.  The table starts empty and is filled by Python: after a Python map helper
succeeded on a map of a supported type, the map is described for native code, so the first call
per map goes through Python (which also makes the map's memory visible to the program, as the
helper does) and later ones do not.

What is native, and why it is safe
----------------------------------
* Only when the machine's helpers 1/2/3 are pybpf's own functions (a registry that replaces one
  keeps it in Python); checked when a map is described and before every run.
* The key and value pointers must lie in readable memory (the live stack or a region of the
  region table, exactly what ``memory.read`` accepts), else Python runs the helper and raises the
  interpreter's error.
* ``ARRAY`` / ``PERCPU_ARRAY`` lookups: always native (pinned maps too).  The Python lookup takes
  no lock either: a lookup is a bounds check and an add on a layout that never changes.
* ``HASH`` / ``PERCPU_HASH`` lookups: native for maps that are not pinned, while the map's
  ``dirty`` word is clear.  Native code runs holding the GIL (``PYFUNCTYPE``), so no Python
  thread runs during it; a thread can only be *suspended* inside a map operation.  A suspended
  writer has set ``dirty`` (it sets it before its first store and clears it after its last), so
  native code then defers to Python, whose lookup waits for the lock.  A suspended reader does not
  matter to a reader.  Every mutation keeps the chains valid after each store, so any quiescent
  state is a consistent one.  Pinned maps are shared with other processes, which take ``flock``
  and may run truly concurrently: their hash lookups stay in Python.
* Updates and deletes (arrays: value stores; hash maps: the full insert/replace/delete with the
  free list, bump allocator, bucket chains and element count of :mod:`pybpf.maps.hash`) are
  native only while the engine *holds the map's lock*: before a run the runner takes each such
  map's ``threading.Lock`` without blocking (and only if ``dirty`` is clear) and marks the
  descriptor armed; it releases the locks before every call into Python (so Python helpers,
  including the map helpers themselves, take them as usual) and re-arms afterwards, and releases
  them when native code returns.  A map whose lock is busy is simply updated through Python for
  that run.  Holding the lock is the Python helpers' protocol; ``dirty`` is not set because native
  code cannot stop half-way (no exception, no thread switch) and only maps that are not pinned are
  updated natively, so no other process can see or survive a half-done update.
* Array lookups also fill their call site's inline cache (the map's handle, the address of value
  0 on the current CPU, max_entries, the stride): the next lookup of that map from that site is
  a bounds check and a multiply-add in the program's own code.  Python clears the caches whenever
  what they assume may have changed: the registered helpers, the described maps, their
  visibility, the current CPU.
* Not native: LRU maps (a lookup reorders the LRU list), per-CPU lookups of another CPU (helper
  195), map-in-map, queues, ring buffers, bloom filters, LPM tries, hash maps with keys longer
  than 64 bytes, pinned hash maps, and updates of pinned maps.  They all work through Python.
"""

from __future__ import annotations

import ctypes
import errno
import struct
from dataclasses import dataclass, field
from typing import Any

from pybpf.jit import abi
from pybpf.maps.base import HEADER_SIZE, OFF_DIRTY, BpfMap
from pybpf.maps.constants import BPF_F_RDONLY_PROG
from pybpf.maps.hash import ELEM_META, S_BUMP, S_COUNT, S_FREE

NATIVE_HELPERS = {1: "lookup", 2: "update", 3: "delete"}
ARRAY_TYPES = ("ArrayMap", "PerCpuArrayMap")
HASH_TYPES = ("HashMap", "PerCpuHashMap")
# pybpf-hash64's constants (the formula in pybpf.maps.hashing's docstring), as signed i64 literals.
_K = 0x9E3779B97F4A7C15 - (1 << 64)
_F1 = 0xBF58476D1CE4E5B9 - (1 << 64)
_F2 = 0x94D049BB133111EB - (1 << 64)
_ENTRY = struct.Struct(f"<{abi.MAP_WORDS}q")
_W = 8 * abi.MAP_WORDS


def _slot(word: int) -> int:
    return 8 * word


def ir_functions() -> list[str]:
    """The IR of the native map helpers (emitted only into modules that call helpers 1-3)."""
    a = abi
    einval, eperm, enoent, e2big, eexist = (-errno.EINVAL, -errno.EPERM, -errno.ENOENT, -errno.E2BIG, -errno.EEXIST)
    return [
        # -- the descriptor of a handle, or null ------------------------------------------------
        "define internal ptr @pybpf_map_desc(ptr %ctx, i64 %handle) nounwind {",
        "entry:",
        f"  %pn = getelementptr i64, ptr %ctx, i64 {a.NMAPS}",
        "  %n = load i64, ptr %pn",
        f"  %pt = getelementptr i64, ptr %ctx, i64 {a.MAPS}",
        "  %tv = load i64, ptr %pt",
        "  %tbl = inttoptr i64 %tv to ptr",
        "  br label %loop",
        "loop:",
        "  %i = phi i64 [0, %entry], [%i1, %next]",
        "  %more = icmp ult i64 %i, %n",
        "  br i1 %more, label %body, label %none",
        "body:",
        f"  %e = getelementptr [{a.MAP_WORDS} x i64], ptr %tbl, i64 %i",
        "  %h = load i64, ptr %e",
        "  %hit = icmp eq i64 %h, %handle",
        "  br i1 %hit, label %found, label %next",
        "next:",
        "  %i1 = add i64 %i, 1",
        "  br label %loop",
        "found:",
        "  ret ptr %e",
        "none:",
        "  ret ptr null",
        "}",
        "",
        # -- may native code read [addr, addr+size)?  (the live stack, or a readable region) ------
        "define internal i1 @pybpf_readable(ptr %ctx, i64 %addr, i64 %size, i64 %slo, i64 %send) nounwind {",
        "entry:",
        "  %slim = sub i64 %send, %size",
        "  %s1 = icmp uge i64 %addr, %slo",
        "  %s2 = icmp ule i64 %addr, %slim",
        "  %sin = and i1 %s1, %s2",
        "  br i1 %sin, label %yes, label %scan",
        "scan:",
        f"  %pn = getelementptr i64, ptr %ctx, i64 {a.NREGIONS}",
        "  %n = load i64, ptr %pn",
        f"  %pt = getelementptr i64, ptr %ctx, i64 {a.REGIONS}",
        "  %tv = load i64, ptr %pt",
        "  %tbl = inttoptr i64 %tv to ptr",
        "  br label %loop",
        "loop:",
        "  %i = phi i64 [0, %scan], [%i1, %next]",
        "  %more = icmp ult i64 %i, %n",
        "  br i1 %more, label %body, label %no",
        "body:",
        f"  %row = getelementptr [{a.REGION_WORDS} x i64], ptr %tbl, i64 %i",
        "  %start = load i64, ptr %row",
        "  %pe = getelementptr i64, ptr %row, i64 1",
        "  %end = load i64, ptr %pe",
        "  %pf = getelementptr i64, ptr %row, i64 2",
        "  %flags = load i64, ptr %pf",
        "  %elim = sub i64 %end, %size",
        "  %c1 = icmp uge i64 %addr, %start",
        "  %c2 = icmp ule i64 %addr, %elim",
        "  %c3 = icmp uge i64 %end, %size",
        f"  %rd = and i64 %flags, {a.FLAG_READ}",
        "  %c4 = icmp ne i64 %rd, 0",
        "  %c12 = and i1 %c1, %c2",
        "  %c34 = and i1 %c3, %c4",
        "  %hit = and i1 %c12, %c34",
        "  br i1 %hit, label %yes, label %next",
        "next:",
        "  %i1 = add i64 %i, 1",
        "  br label %loop",
        "yes:",
        "  ret i1 true",
        "no:",
        "  ret i1 false",
        "}",
        "",
        # -- the CPU slot of a per-CPU map (the current virtual CPU modulo the map's CPUs) ---------
        "define internal i64 @pybpf_map_cpu(ptr %ctx, ptr %e) nounwind alwaysinline {",
        "entry:",
        f"  %pf = getelementptr i64, ptr %e, i64 {a.MAP_FLAGS}",
        "  %flags = load i64, ptr %pf",
        f"  %pc = and i64 %flags, {a.MAPF_PERCPU}",
        "  %isp = icmp ne i64 %pc, 0",
        "  br i1 %isp, label %percpu, label %zero",
        "zero:",
        "  ret i64 0",
        "percpu:",
        f"  %pcpu = getelementptr i64, ptr %ctx, i64 {a.CPU}",
        "  %cpu = load i64, ptr %pcpu",
        f"  %pvn = getelementptr i64, ptr %e, i64 {a.MAP_VN}",
        "  %vn = load i64, ptr %pvn",
        "  %inr = icmp ult i64 %cpu, %vn",
        "  br i1 %inr, label %done, label %wrap",
        "wrap:",
        "  %m = urem i64 %cpu, %vn",
        "  br label %done",
        "done:",
        "  %r = phi i64 [%cpu, %percpu], [%m, %wrap]",
        "  ret i64 %r",
        "}",
        "",
        # -- address of value (slot or index s, 0-based) on the map's CPU -----------------------
        "define internal i64 @pybpf_map_value(ptr %ctx, ptr %e, i64 %s) nounwind alwaysinline {",
        "entry:",
        "  %cpu = call i64 @pybpf_map_cpu(ptr %ctx, ptr %e)",
        f"  %pb = getelementptr i64, ptr %e, i64 {a.MAP_BASE}",
        "  %base = load i64, ptr %pb",
        f"  %pvn = getelementptr i64, ptr %e, i64 {a.MAP_VN}",
        "  %vn = load i64, ptr %pvn",
        f"  %pvs = getelementptr i64, ptr %e, i64 {a.MAP_VS}",
        "  %vs = load i64, ptr %pvs",
        f"  %pvo = getelementptr i64, ptr %e, i64 {a.MAP_VO}",
        "  %vo = load i64, ptr %pvo",
        "  %k = mul i64 %s, %vn",
        "  %k2 = add i64 %k, %cpu",
        "  %o = mul i64 %k2, %vs",
        "  %o2 = add i64 %o, %vo",
        "  %r = add i64 %base, %o2",
        "  ret i64 %r",
        "}",
        "",
        *_hash_find(),
        *_lookup(),
        *_store_value(),
        *_update(einval, eperm, enoent, e2big, eexist),
        *_delete(einval, eperm, enoent),
    ]


def _field(name: str, word: int, ptr: str = "%e") -> list[str]:
    return [f"  %p{name} = getelementptr i64, ptr {ptr}, i64 {word}", f"  %{name} = load i64, ptr %p{name}"]


def _hash_find() -> list[str]:
    """``{slot, hash}`` of ``key`` in a hash map (slot 0: absent; -1: let Python do it).

    pybpf-hash64 over the key's 8-byte little-endian words (the last one zero-padded, read with
    loads that never pass the key's end), the low 32 bits as element hash, then the bucket's
    chain, comparing the stored hash and the key words (stored keys are zero-padded to 8 bytes).
    A dirty map (a mutation in progress in a suspended thread, or a crash to repair) or a chain
    longer than the map (impossible in a consistent map) goes to Python.
    """
    a = abi
    return [
        "define internal {i64, i64} @pybpf_hash_find(ptr %e, i64 %key) nounwind {",
        "entry:",
        "  %kw = alloca [8 x i64]",
        *_field("base", a.MAP_BASE),
        "  %bptr = inttoptr i64 %base to ptr",
        f"  %pdirty = getelementptr i8, ptr %bptr, i64 {OFF_DIRTY}",
        "  %dirty = load i8, ptr %pdirty",
        "  %isdirty = icmp ne i8 %dirty, 0",
        "  br i1 %isdirty, label %python, label %hash",
        "hash:",
        *_field("ks", a.MAP_KEY_SIZE),
        "  %nfull = lshr i64 %ks, 3",
        "  %tail = and i64 %ks, 7",
        "  br label %wloop",
        "wloop:",
        "  %i = phi i64 [0, %hash], [%i1, %wbody]",
        "  %h = phi i64 [%ks, %hash], [%h3, %wbody]",
        "  %wmore = icmp ult i64 %i, %nfull",
        "  br i1 %wmore, label %wbody, label %wtail",
        "wbody:",
        "  %off = shl i64 %i, 3",
        "  %wa = add i64 %key, %off",
        "  %wp = inttoptr i64 %wa to ptr",
        "  %w = load i64, ptr %wp, align 1",
        "  %kwp = getelementptr i64, ptr %kw, i64 %i",
        "  store i64 %w, ptr %kwp",
        "  %h1 = xor i64 %h, %w",
        f"  %h2 = mul i64 %h1, {_K}",
        "  %hs = lshr i64 %h2, 32",
        "  %h3 = xor i64 %h2, %hs",
        "  %i1 = add i64 %i, 1",
        "  br label %wloop",
        "wtail:",
        "  %hastail = icmp ne i64 %tail, 0",
        "  br i1 %hastail, label %t4, label %fin",
        "t4:",
        "  %toff = shl i64 %nfull, 3",
        "  %ta = add i64 %key, %toff",
        "  %t4b = and i64 %tail, 4",
        "  %has4 = icmp ne i64 %t4b, 0",
        "  br i1 %has4, label %t4y, label %t2",
        "t4y:",
        "  %p4 = inttoptr i64 %ta to ptr",
        "  %v4 = load i32, ptr %p4, align 1",
        "  %z4 = zext i32 %v4 to i64",
        "  %ta4 = add i64 %ta, 4",
        "  br label %t2",
        "t2:",
        "  %w2 = phi i64 [0, %t4], [%z4, %t4y]",
        "  %s2 = phi i64 [0, %t4], [32, %t4y]",
        "  %a2 = phi i64 [%ta, %t4], [%ta4, %t4y]",
        "  %t2b = and i64 %tail, 2",
        "  %has2 = icmp ne i64 %t2b, 0",
        "  br i1 %has2, label %t2y, label %t1",
        "t2y:",
        "  %p2 = inttoptr i64 %a2 to ptr",
        "  %v2 = load i16, ptr %p2, align 1",
        "  %z2 = zext i16 %v2 to i64",
        "  %y2 = shl i64 %z2, %s2",
        "  %o2 = or i64 %w2, %y2",
        "  %s2n = add i64 %s2, 16",
        "  %a2n = add i64 %a2, 2",
        "  br label %t1",
        "t1:",
        "  %w1 = phi i64 [%w2, %t2], [%o2, %t2y]",
        "  %s1 = phi i64 [%s2, %t2], [%s2n, %t2y]",
        "  %a1 = phi i64 [%a2, %t2], [%a2n, %t2y]",
        "  %t1b = and i64 %tail, 1",
        "  %has1 = icmp ne i64 %t1b, 0",
        "  br i1 %has1, label %t1y, label %tdone",
        "t1y:",
        "  %p1 = inttoptr i64 %a1 to ptr",
        "  %v1 = load i8, ptr %p1",
        "  %z1 = zext i8 %v1 to i64",
        "  %y1 = shl i64 %z1, %s1",
        "  %o1 = or i64 %w1, %y1",
        "  br label %tdone",
        "tdone:",
        "  %wt = phi i64 [%w1, %t1], [%o1, %t1y]",
        "  %kwt = getelementptr i64, ptr %kw, i64 %nfull",
        "  store i64 %wt, ptr %kwt",
        "  %ht1 = xor i64 %h, %wt",
        f"  %ht2 = mul i64 %ht1, {_K}",
        "  %hts = lshr i64 %ht2, 32",
        "  %ht3 = xor i64 %ht2, %hts",
        "  br label %fin",
        "fin:",
        "  %hf = phi i64 [%h, %wtail], [%ht3, %tdone]",
        "  %f1s = lshr i64 %hf, 30",
        "  %f1 = xor i64 %hf, %f1s",
        f"  %f2 = mul i64 %f1, {_F1}",
        "  %f2s = lshr i64 %f2, 27",
        "  %f3 = xor i64 %f2, %f2s",
        f"  %f4 = mul i64 %f3, {_F2}",
        "  %f4s = lshr i64 %f4, 31",
        "  %f5 = xor i64 %f4, %f4s",
        "  %h32 = and i64 %f5, 4294967295",
        "  %nw0 = add i64 %ks, 7",
        "  %nw = lshr i64 %nw0, 3",
        *_field("bmask", a.MAP_BMASK),
        *_field("el", a.MAP_EL),
        *_field("es", a.MAP_ES),
        *_field("maxe", a.MAP_MAX_ENTRIES),
        "  %bi = and i64 %h32, %bmask",
        "  %bo = shl i64 %bi, 2",
        f"  %bo2 = add i64 %bo, {HEADER_SIZE}",
        "  %bp = getelementptr i8, ptr %bptr, i64 %bo2",
        "  %head = load i32, ptr %bp",
        "  br label %walk",
        "walk:",
        "  %cur = phi i32 [%head, %fin], [%nxt, %next]",
        "  %steps = phi i64 [0, %fin], [%steps1, %next]",
        "  %curz = zext i32 %cur to i64",
        "  %isend = icmp eq i32 %cur, 0",
        "  br i1 %isend, label %absent, label %check",
        "check:",
        "  %long = icmp ugt i64 %steps, %maxe",
        "  br i1 %long, label %python, label %elem",
        "elem:",
        "  %sm1 = sub i64 %curz, 1",
        "  %eo = mul i64 %sm1, %es",
        "  %eo2 = add i64 %eo, %el",
        "  %ep = getelementptr i8, ptr %bptr, i64 %eo2",
        "  %nxt = load i32, ptr %ep",
        "  %ehp = getelementptr i8, ptr %ep, i64 4",
        "  %eh = load i32, ptr %ehp",
        "  %ehz = zext i32 %eh to i64",
        "  %heq = icmp eq i64 %ehz, %h32",
        "  br i1 %heq, label %cmp, label %next",
        "cmp:",
        f"  %kp = getelementptr i8, ptr %ep, i64 {ELEM_META}",
        "  br label %cloop",
        "cloop:",
        "  %j = phi i64 [0, %cmp], [%j1, %cnext]",
        "  %cmore = icmp ult i64 %j, %nw",
        "  br i1 %cmore, label %cbody, label %found",
        "cbody:",
        "  %sp = getelementptr i64, ptr %kp, i64 %j",
        "  %sw = load i64, ptr %sp, align 1",
        "  %pp = getelementptr i64, ptr %kw, i64 %j",
        "  %pw = load i64, ptr %pp",
        "  %weq = icmp eq i64 %sw, %pw",
        "  br i1 %weq, label %cnext, label %next",
        "cnext:",
        "  %j1 = add i64 %j, 1",
        "  br label %cloop",
        "next:",
        "  %steps1 = add i64 %steps, 1",
        "  br label %walk",
        "found:",
        "  %rf = insertvalue {i64, i64} undef, i64 %curz, 0",
        "  %rf2 = insertvalue {i64, i64} %rf, i64 %h32, 1",
        "  ret {i64, i64} %rf2",
        "absent:",
        "  %ra = insertvalue {i64, i64} undef, i64 0, 0",
        "  %ra2 = insertvalue {i64, i64} %ra, i64 %h32, 1",
        "  ret {i64, i64} %ra2",
        "python:",
        "  ret {i64, i64} {i64 -1, i64 0}",
        "}",
        "",
    ]


def _prologue(bit: int) -> list[str]:
    """Common start: the helper must be pybpf's own, the handle described, the key readable."""
    a = abi
    return [
        "entry:",
        f"  %pm = getelementptr i64, ptr %ctx, i64 {a.NATIVE_HELPERS}",
        "  %mask = load i64, ptr %pm",
        f"  %mine = and i64 %mask, {1 << bit}",
        "  %ismine = icmp ne i64 %mine, 0",
        "  br i1 %ismine, label %desc, label %python",
        "desc:",
        "  %e = call ptr @pybpf_map_desc(ptr %ctx, i64 %handle)",
        "  %known = icmp ne ptr %e, null",
        "  br i1 %known, label %keyok, label %python",
        "keyok:",
        *_field("ks", a.MAP_KEY_SIZE),
        "  %kr = call i1 @pybpf_readable(ptr %ctx, i64 %key, i64 %ks, i64 %slo, i64 %send)",
        *_field("kind", a.MAP_KIND),
        *_field("flags", a.MAP_FLAGS),
        f"  %isarr = icmp eq i64 %kind, {a.MAP_KIND_ARRAY}",
        "  br i1 %kr, label %go, label %python",
    ]


def _lookup() -> list[str]:
    a = abi
    return [
        "define {i64, i1} @pybpf_map_lookup(ptr %ctx, i64 %handle, i64 %key, i64 %slo, i64 %send, ptr %site)"
        " nounwind {",
        *_prologue(1),
        "go:",
        f"  %vis = and i64 %flags, {a.MAPF_VISIBLE}",
        "  %isvis = icmp ne i64 %vis, 0",
        "  br i1 %isvis, label %kindsw, label %python",
        "kindsw:",
        "  br i1 %isarr, label %array, label %hash",
        "array:",
        "  %kp = inttoptr i64 %key to ptr",
        "  %idx32 = load i32, ptr %kp, align 1",
        "  %idx = zext i32 %idx32 to i64",
        *_field("maxe", a.MAP_MAX_ENTRIES),
        "  %inb = icmp ult i64 %idx, %maxe",
        "  br i1 %inb, label %aval, label %null",
        "aval:",
        "  %av = call i64 @pybpf_map_value(ptr %ctx, ptr %e, i64 %idx)",
        "  %hassite = icmp ne ptr %site, null",
        "  br i1 %hassite, label %fill, label %aret",
        "fill:",  # the call site's inline cache: next time this map is looked up inline
        "  %v0 = call i64 @pybpf_map_value(ptr %ctx, ptr %e, i64 0)",
        "  %ps1 = getelementptr i64, ptr %site, i64 1",
        "  store i64 %v0, ptr %ps1",
        "  %ps2 = getelementptr i64, ptr %site, i64 2",
        "  store i64 %maxe, ptr %ps2",
        *_field("fvn", a.MAP_VN),
        *_field("fvs", a.MAP_VS),
        "  %stride = mul i64 %fvn, %fvs",
        "  %ps3 = getelementptr i64, ptr %site, i64 3",
        "  store i64 %stride, ptr %ps3",
        "  store i64 %handle, ptr %site",
        "  br label %aret",
        "aret:",
        "  %ar = insertvalue {i64, i1} {i64 0, i1 true}, i64 %av, 0",
        "  ret {i64, i1} %ar",
        "hash:",
        "  %f = call {i64, i64} @pybpf_hash_find(ptr %e, i64 %key)",
        "  %slot = extractvalue {i64, i64} %f, 0",
        "  %py = icmp eq i64 %slot, -1",
        "  br i1 %py, label %python, label %hfound",
        "hfound:",
        "  %absent = icmp eq i64 %slot, 0",
        "  br i1 %absent, label %null, label %hval",
        "hval:",
        "  %s0 = sub i64 %slot, 1",
        "  %hv = call i64 @pybpf_map_value(ptr %ctx, ptr %e, i64 %s0)",
        "  %hr = insertvalue {i64, i1} {i64 0, i1 true}, i64 %hv, 0",
        "  ret {i64, i1} %hr",
        "null:",
        "  ret {i64, i1} {i64 0, i1 true}",
        "python:",
        "  ret {i64, i1} {i64 0, i1 false}",
        "}",
        "",
    ]


def _store_value() -> list[str]:
    """Write a value into slot/index ``s`` (0-based) the way ``_store``/``_write`` do: per-CPU
    maps zero every CPU's copy of a new element first; a ``bpf_spin_lock`` word is never
    overwritten (and zeroed in a new element)."""
    a = abi
    return [
        "define internal void @pybpf_map_store(ptr %ctx, ptr %e, i64 %s, i64 %value, i1 %new) nounwind {",
        "entry:",
        *_field("flags", a.MAP_FLAGS),
        *_field("vsz", a.MAP_VALUE_SIZE),
        "  %src = inttoptr i64 %value to ptr",
        f"  %pc = and i64 %flags, {a.MAPF_PERCPU}",
        "  %isp = icmp ne i64 %pc, 0",
        "  %clear = and i1 %isp, %new",
        "  br i1 %clear, label %zero, label %write",
        "zero:",
        *_field("base", a.MAP_BASE),
        *_field("vn", a.MAP_VN),
        *_field("vs", a.MAP_VS),
        *_field("vo", a.MAP_VO),
        "  %zk = mul i64 %s, %vn",
        "  %zo = mul i64 %zk, %vs",
        "  %zo2 = add i64 %zo, %vo",
        "  %za = add i64 %base, %zo2",
        "  %zp = inttoptr i64 %za to ptr",
        "  %zn = mul i64 %vn, %vs",
        "  call void @llvm.memset.p0.i64(ptr %zp, i8 0, i64 %zn, i1 false)",
        "  br label %write",
        "write:",
        "  %da = call i64 @pybpf_map_value(ptr %ctx, ptr %e, i64 %s)",
        "  %dst = inttoptr i64 %da to ptr",
        *_field("lo", a.MAP_LOCK_OFF),
        "  %nolock = icmp slt i64 %lo, 0",
        "  br i1 %nolock, label %whole, label %split",
        "whole:",
        "  call void @llvm.memcpy.p0.p0.i64(ptr %dst, ptr %src, i64 %vsz, i1 false)",
        "  ret void",
        "split:",
        "  call void @llvm.memcpy.p0.p0.i64(ptr %dst, ptr %src, i64 %lo, i1 false)",
        "  %lo4 = add i64 %lo, 4",
        "  %d2 = getelementptr i8, ptr %dst, i64 %lo4",
        "  %s2 = getelementptr i8, ptr %src, i64 %lo4",
        "  %n2 = sub i64 %vsz, %lo4",
        "  call void @llvm.memcpy.p0.p0.i64(ptr %d2, ptr %s2, i64 %n2, i1 false)",
        "  br i1 %new, label %zlock, label %done",
        "zlock:",
        "  %lp = getelementptr i8, ptr %dst, i64 %lo",
        "  store i32 0, ptr %lp, align 1",
        "  br label %done",
        "done:",
        "  ret void",
        "}",
        "",
    ]


def _err(label: str, code: int) -> list[str]:
    return [f"{label}:", f"  ret {{i64, i1}} {{i64 {code}, i1 true}}"]


def _update(einval: int, eperm: int, enoent: int, e2big: int, eexist: int) -> list[str]:
    """``map_update_elem`` with the checks in the Python helpers' order (ArrayMap.update /
    HashMap.update): memory (value, then key; Python raises), then EPERM / EINVAL / E2BIG /
    EEXIST / ENOENT as each map type orders them."""
    a = abi
    return [
        "define {i64, i1} @pybpf_map_update(ptr %ctx, i64 %handle, i64 %key, i64 %value, i64 %fl,"
        " i64 %slo, i64 %send) nounwind {",
        *_prologue(2),
        "go:",
        *_field("vsz", a.MAP_VALUE_SIZE),
        "  %vr = call i1 @pybpf_readable(ptr %ctx, i64 %value, i64 %vsz, i64 %slo, i64 %send)",
        "  br i1 %vr, label %perm, label %python",
        "perm:",
        f"  %ro = and i64 %flags, {a.MAPF_RDONLY_PROG}",
        "  %isro = icmp ne i64 %ro, 0",
        f"  %pc = and i64 %flags, {a.MAPF_PERCPU}",
        "  %isp = icmp ne i64 %pc, 0",
        "  %mode = and i64 %fl, -5",  # flags & ~BPF_F_LOCK
        "  %modebad = icmp ugt i64 %mode, 2",
        "  %flbad = icmp ugt i64 %fl, 2",
        "  %fbad = select i1 %isp, i1 %flbad, i1 %modebad",
        "  %lockf = and i64 %fl, 4",
        "  %haslockf = icmp ne i64 %lockf, 0",
        *_field("lo", a.MAP_LOCK_OFF),
        "  %nolock = icmp slt i64 %lo, 0",
        "  %lockbad = and i1 %haslockf, %nolock",
        *_field("armed", a.MAP_ARMED),
        "  %isarmed = icmp ne i64 %armed, 0",
        "  br i1 %isarr, label %array, label %hash",
        # ArrayMap.update: EPERM, then _check_update: EINVAL flags, E2BIG index, EEXIST, EINVAL lock
        "array:",
        "  br i1 %isro, label %eperm, label %aflags",
        "aflags:",
        "  br i1 %fbad, label %einval, label %aindex",
        "aindex:",
        "  %kp = inttoptr i64 %key to ptr",
        "  %idx32 = load i32, ptr %kp, align 1",
        "  %idx = zext i32 %idx32 to i64",
        *_field("maxe", a.MAP_MAX_ENTRIES),
        "  %inb = icmp ult i64 %idx, %maxe",
        "  br i1 %inb, label %anoex, label %e2big",
        "anoex:",
        "  %nx = and i64 %fl, 1",
        "  %isnx = icmp ne i64 %nx, 0",
        "  br i1 %isnx, label %eexist, label %alock",
        "alock:",
        "  br i1 %lockbad, label %einval, label %aarmed",
        "aarmed:",
        "  br i1 %isarmed, label %awrite, label %python",
        "awrite:",
        "  call void @pybpf_map_store(ptr %ctx, ptr %e, i64 %idx, i64 %value, i1 false)",
        "  ret {i64, i1} {i64 0, i1 true}",
        # HashMap.update: _check_flags (EINVAL), EPERM, then _upd under the lock
        "hash:",
        "  %hfbad = or i1 %fbad, %lockbad",
        "  %hlockbad = and i1 %isp, %haslockf",  # per-CPU: flags > BPF_EXIST already covers F_LOCK
        "  %hbad = or i1 %hfbad, %hlockbad",
        "  br i1 %hbad, label %einval, label %hperm",
        "hperm:",
        "  br i1 %isro, label %eperm, label %harmed",
        "harmed:",
        "  br i1 %isarmed, label %hfind, label %python",
        "hfind:",
        "  %f = call {i64, i64} @pybpf_hash_find(ptr %e, i64 %key)",
        "  %slot = extractvalue {i64, i64} %f, 0",
        "  %h32 = extractvalue {i64, i64} %f, 1",
        "  %py = icmp eq i64 %slot, -1",
        "  br i1 %py, label %python, label %hhave",
        "hhave:",
        "  %absent = icmp eq i64 %slot, 0",
        "  br i1 %absent, label %hnew, label %hold",
        "hold:",
        "  %isnoex = icmp eq i64 %mode, 1",
        "  br i1 %isnoex, label %eexist, label %hreplace",
        "hreplace:",
        "  %s0 = sub i64 %slot, 1",
        "  call void @pybpf_map_store(ptr %ctx, ptr %e, i64 %s0, i64 %value, i1 false)",
        "  ret {i64, i1} {i64 0, i1 true}",
        "hnew:",
        "  %isex = icmp eq i64 %mode, 2",
        "  br i1 %isex, label %enoent, label %alloc",
        "alloc:",
        *_field("base", a.MAP_BASE),
        "  %bptr = inttoptr i64 %base to ptr",
        *_field("el", a.MAP_EL),
        *_field("es", a.MAP_ES),
        f"  %pfree = getelementptr i8, ptr %bptr, i64 {S_FREE}",
        "  %free = load i32, ptr %pfree",
        "  %hasfree = icmp ne i32 %free, 0",
        "  br i1 %hasfree, label %fromfree, label %bump",
        "fromfree:",
        "  %freez = zext i32 %free to i64",
        "  %fm1 = sub i64 %freez, 1",
        "  %fo = mul i64 %fm1, %es",
        "  %fo2 = add i64 %fo, %el",
        "  %fp = getelementptr i8, ptr %bptr, i64 %fo2",
        "  %fnext = load i32, ptr %fp",
        "  store i32 %fnext, ptr %pfree",
        "  br label %link",
        "bump:",
        f"  %pbump = getelementptr i8, ptr %bptr, i64 {S_BUMP}",
        "  %bmp = load i32, ptr %pbump",
        "  %bmpz = zext i32 %bmp to i64",
        *_field("maxh", a.MAP_MAX_ENTRIES),
        "  %room = icmp ult i64 %bmpz, %maxh",
        "  br i1 %room, label %bumpy, label %e2big",
        "bumpy:",
        "  %bmp1 = add i32 %bmp, 1",
        "  store i32 %bmp1, ptr %pbump",
        "  br label %link",
        "link:",
        "  %new = phi i32 [%free, %fromfree], [%bmp1, %bumpy]",
        "  %newz = zext i32 %new to i64",
        "  %nm1 = sub i64 %newz, 1",
        "  %no = mul i64 %nm1, %es",
        "  %no2 = add i64 %no, %el",
        "  %np = getelementptr i8, ptr %bptr, i64 %no2",
        *_field("bmask", a.MAP_BMASK),
        "  %bi = and i64 %h32, %bmask",
        "  %bo = shl i64 %bi, 2",
        f"  %bo2 = add i64 %bo, {HEADER_SIZE}",
        "  %bp = getelementptr i8, ptr %bptr, i64 %bo2",
        "  %head = load i32, ptr %bp",
        "  store i32 %head, ptr %np",
        "  %nh = getelementptr i8, ptr %np, i64 4",
        "  %h32t = trunc i64 %h32 to i32",
        "  store i32 %h32t, ptr %nh",
        "  %nl = getelementptr i8, ptr %np, i64 8",
        "  store i64 0, ptr %nl, align 4",
        f"  %nk = getelementptr i8, ptr %np, i64 {ELEM_META}",
        "  %ksrc = inttoptr i64 %key to ptr",
        "  call void @llvm.memcpy.p0.p0.i64(ptr %nk, ptr %ksrc, i64 %ks, i1 false)",
        "  call void @pybpf_map_store(ptr %ctx, ptr %e, i64 %nm1, i64 %value, i1 true)",
        "  store i32 %new, ptr %bp",
        f"  %pcount = getelementptr i8, ptr %bptr, i64 {S_COUNT}",
        "  %count = load i32, ptr %pcount",
        "  %count1 = add i32 %count, 1",
        "  store i32 %count1, ptr %pcount",
        "  ret {i64, i1} {i64 0, i1 true}",
        *_err("einval", einval),
        *_err("eperm", eperm),
        *_err("enoent", enoent),
        *_err("e2big", e2big),
        *_err("eexist", eexist),
        "python:",
        "  ret {i64, i1} {i64 0, i1 false}",
        "}",
        "",
    ]


def _delete(einval: int, eperm: int, enoent: int) -> list[str]:
    """``map_delete_elem``: arrays answer EINVAL; hash maps check EPERM, then unlink the element
    from its chain, push it on the free list and decrement the count (``HashMap._remove_slot``)."""
    a = abi
    return [
        "define {i64, i1} @pybpf_map_delete(ptr %ctx, i64 %handle, i64 %key, i64 %slo, i64 %send) nounwind {",
        *_prologue(3),
        "go:",
        "  br i1 %isarr, label %einval, label %hash",
        "hash:",
        f"  %ro = and i64 %flags, {a.MAPF_RDONLY_PROG}",
        "  %isro = icmp ne i64 %ro, 0",
        "  br i1 %isro, label %eperm, label %harmed",
        "harmed:",
        *_field("armed", a.MAP_ARMED),
        "  %isarmed = icmp ne i64 %armed, 0",
        "  br i1 %isarmed, label %hfind, label %python",
        "hfind:",
        "  %f = call {i64, i64} @pybpf_hash_find(ptr %e, i64 %key)",
        "  %slot = extractvalue {i64, i64} %f, 0",
        "  %h32 = extractvalue {i64, i64} %f, 1",
        "  %py = icmp eq i64 %slot, -1",
        "  br i1 %py, label %python, label %hhave",
        "hhave:",
        "  %absent = icmp eq i64 %slot, 0",
        "  br i1 %absent, label %enoent, label %unlink",
        "unlink:",
        *_field("base", a.MAP_BASE),
        "  %bptr = inttoptr i64 %base to ptr",
        *_field("el", a.MAP_EL),
        *_field("es", a.MAP_ES),
        *_field("bmask", a.MAP_BMASK),
        "  %slot32 = trunc i64 %slot to i32",
        "  %sm1 = sub i64 %slot, 1",
        "  %so = mul i64 %sm1, %es",
        "  %so2 = add i64 %so, %el",
        "  %sp = getelementptr i8, ptr %bptr, i64 %so2",
        "  %snext = load i32, ptr %sp",
        "  %bi = and i64 %h32, %bmask",
        "  %bo = shl i64 %bi, 2",
        f"  %bo2 = add i64 %bo, {HEADER_SIZE}",
        "  %bp = getelementptr i8, ptr %bptr, i64 %bo2",
        "  br label %walk",
        "walk:",
        "  %lnk = phi ptr [%bp, %unlink], [%cp, %step]",
        "  %cur = load i32, ptr %lnk",
        "  %atslot = icmp eq i32 %cur, %slot32",
        "  br i1 %atslot, label %cut, label %check",
        "check:",
        "  %gone = icmp eq i32 %cur, 0",
        "  br i1 %gone, label %freeit, label %step",
        "step:",
        "  %cz = zext i32 %cur to i64",
        "  %cm1 = sub i64 %cz, 1",
        "  %co = mul i64 %cm1, %es",
        "  %co2 = add i64 %co, %el",
        "  %cp = getelementptr i8, ptr %bptr, i64 %co2",
        "  br label %walk",
        "cut:",
        "  store i32 %snext, ptr %lnk",
        "  br label %freeit",
        "freeit:",
        f"  %pfree = getelementptr i8, ptr %bptr, i64 {S_FREE}",
        "  %free = load i32, ptr %pfree",
        "  store i32 %free, ptr %sp",
        "  store i32 %slot32, ptr %pfree",
        f"  %pcount = getelementptr i8, ptr %bptr, i64 {S_COUNT}",
        "  %count = load i32, ptr %pcount",
        "  %count1 = sub i32 %count, 1",
        "  store i32 %count1, ptr %pcount",
        "  ret {i64, i1} {i64 0, i1 true}",
        *_err("einval", einval),
        *_err("eperm", eperm),
        *_err("enoent", enoent),
        "python:",
        "  ret {i64, i1} {i64 0, i1 false}",
        "}",
        "",
    ]


# -- the Python side: descriptors and locks ---------------------------------------------------------
@dataclass
class _Entry:
    """One described map; ``region`` and ``storage`` pin the identity the descriptor was built for."""

    bpf_map: BpfMap
    region: Any
    storage: Any = field(repr=False)
    kind: int
    mutable: bool  # natively updatable (not pinned); armed per run
    held: bool = False


def _helper_functions() -> dict[int, Any]:
    from pybpf.helpers import maps as helpers

    return {1: helpers.map_lookup_elem, 2: helpers.map_update_elem, 3: helpers.map_delete_elem}


class NativeMaps:
    """The descriptor table of one engine, and the map locks it holds while native code runs.

    The table is a ``bytearray`` whose address goes into the context (``MAPS``/``NMAPS``); Python
    rewrites it whenever the set of described maps changes, which is rare (a map is described once).
    """

    def __init__(self, ctx: bytearray, helpers: Any, sites: int) -> None:
        self.ctx = ctx
        # Inline caches of the program's lookup sites (see abi.SITES); cleared whenever what they
        # assume (the helper, the map, its visibility, the CPU) may have changed.
        self.sites = bytearray(8 * abi.SITE_WORDS * max(sites, 1))
        self._sites_view = (ctypes.c_char * len(self.sites)).from_buffer(self.sites)
        struct.pack_into("<Q", ctx, 8 * abi.SITES, ctypes.addressof(self._sites_view))
        self.cpu = -1
        self.table = bytearray(_W * abi.MAP_TABLE_ENTRIES)
        self._view = (ctypes.c_char * len(self.table)).from_buffer(self.table)
        self.address = ctypes.addressof(self._view)
        self.entries: list[_Entry] = []
        self.by_handle: dict[int, _Entry] = {}
        self.refused: set[int] = set()  # handles of maps native code does not handle
        self.mutable: list[_Entry] = []
        self.percpu = False
        self.mask = 0
        self.helpers: Any = None  # the registry the mask was computed for
        self.expected = _helper_functions()
        self.held = False
        self._registered: tuple[Any, ...] = ()
        struct.pack_into("<QQQ", ctx, 8 * abi.MAPS, self.address, 0, 0)
        self._set_mask(helpers)

    def clear_sites(self) -> None:
        self.sites[:] = bytes(len(self.sites))

    # -- description ---------------------------------------------------------------------------------
    def note(self, machine: Any, helper_id: int, handle: int) -> None:
        """A Python map helper just succeeded on ``handle``: describe the map if native code can
        take its calls from now on (see the module docstring for which maps qualify)."""
        if not self.mask & (1 << helper_id):
            return  # the registry's helper is not pybpf's: native code never takes this call
        entry = self.by_handle.get(handle)
        if entry is not None:
            if helper_id != 1 and not entry.mutable and self._can_mutate(entry.bpf_map):
                entry.mutable = True
                self.mutable.append(entry)
                self._write(machine)
            return
        if handle in self.refused or len(self.entries) >= abi.MAP_TABLE_ENTRIES:
            return
        from pybpf.maps.base import map_by_handle

        bpf_map = map_by_handle(handle)
        if bpf_map is None or bpf_map.closed:
            return
        kind = self._kind(bpf_map)
        if kind == 0:
            self.refused.add(handle)
            return
        entry = _Entry(bpf_map, bpf_map.region, bpf_map._storage, kind, False)
        if helper_id != 1 and self._can_mutate(bpf_map):
            entry.mutable = True
            self.mutable.append(entry)
        self.entries.append(entry)
        self.by_handle[handle] = entry
        self.percpu = self.percpu or bpf_map.is_percpu
        self._write(machine)
        if self.percpu:
            self.set_cpu()

    @staticmethod
    def _kind(bpf_map: BpfMap) -> int:
        name = type(bpf_map).__name__
        if type(bpf_map).__module__ == "pybpf.maps.array" and name in ARRAY_TYPES:
            return abi.MAP_KIND_ARRAY
        pinned = bpf_map._storage.fd is not None
        if (
            type(bpf_map).__module__ == "pybpf.maps.hash"
            and name in HASH_TYPES
            and not pinned
            and bpf_map.key_size <= abi.MAX_NATIVE_KEY
        ):
            return abi.MAP_KIND_HASH
        return 0

    @staticmethod
    def _can_mutate(bpf_map: BpfMap) -> bool:
        return bpf_map._storage.fd is None

    def _write(self, machine: Any) -> None:
        """Rewrite the descriptor table and the context words that describe it."""
        regions = {id(r) for r in machine.memory}
        for k, entry in enumerate(self.entries):
            m: Any = entry.bpf_map
            flags = (abi.MAPF_PERCPU if m.is_percpu else 0) | (
                abi.MAPF_RDONLY_PROG if m.map_flags & BPF_F_RDONLY_PROG else 0
            )
            if id(entry.region) in regions:
                flags |= abi.MAPF_VISIBLE
            words = [0] * abi.MAP_WORDS
            words[abi.MAP_HANDLE] = m.handle
            words[abi.MAP_KIND] = entry.kind
            words[abi.MAP_FLAGS] = flags
            words[abi.MAP_ARMED] = 1 if entry.held else 0
            words[abi.MAP_BASE] = m.region.base
            words[abi.MAP_KEY_SIZE] = m.key_size
            words[abi.MAP_VALUE_SIZE] = m.value_size
            words[abi.MAP_MAX_ENTRIES] = m.max_entries
            words[abi.MAP_VS] = m._vs
            words[abi.MAP_VN] = m._vn
            words[abi.MAP_VO] = m._vo
            words[abi.MAP_LOCK_OFF] = m._lock_off
            if entry.kind == abi.MAP_KIND_HASH:
                words[abi.MAP_BMASK] = m._bmask
                words[abi.MAP_EL] = m._el
                words[abi.MAP_ES] = m._es
            _ENTRY.pack_into(self.table, k * _W, *[w - (1 << 64) if w >= 1 << 63 else w for w in words])
        struct.pack_into("<Q", self.ctx, 8 * abi.NMAPS, len(self.entries))
        self._set_mask(machine.helpers)
        self.clear_sites()

    def _set_mask(self, helpers: Any) -> None:
        mask = 0
        for hid, func in self.expected.items():
            helper = helpers.get(hid)
            if helper is not None and helper.func is func:
                mask |= 1 << hid
        if mask != getattr(self, "mask", None):
            self.clear_sites()
        self.mask = mask
        self.helpers = helpers
        self._registered = tuple(helpers.get(h) for h in self.expected)
        struct.pack_into("<Q", self.ctx, 8 * abi.NATIVE_HELPERS, mask)

    def regions_changed(self, regions: frozenset[int]) -> None:
        """Native lookups may only return pointers into maps whose memory the program can reach
        (``regions``: ids of the machine's regions); only the flag words change."""
        table = self.table
        for k, entry in enumerate(self.entries):
            off = k * _W + _slot(abi.MAP_FLAGS)
            flags = struct.unpack_from("<q", table, off)[0]
            new = flags | abi.MAPF_VISIBLE if id(entry.region) in regions else flags & ~abi.MAPF_VISIBLE
            if new != flags:
                struct.pack_into("<q", table, off, new)
                self.clear_sites()

    # -- per run -------------------------------------------------------------------------------------
    def prepare(self, machine: Any) -> None:
        """Before native code runs: drop descriptors of maps that were closed or moved, re-check
        the helpers, set the CPU, take the locks of natively updated maps."""
        helpers = machine.helpers
        if helpers is not self.helpers or self._registered != tuple(helpers.get(h) for h in self.expected):
            self._set_mask(helpers)
        stale = [
            e
            for e in self.entries
            if e.bpf_map.closed or e.bpf_map.region is not e.region or e.bpf_map._storage is not e.storage
        ]
        if stale:
            self._drop(machine, stale)
        if self.percpu:
            self.set_cpu()
        if self.mutable:
            self.arm()

    def set_cpu(self) -> None:
        """The current virtual CPU for per-CPU maps (inline caches hold its value addresses)."""
        from pybpf.maps.percpu import current_cpu

        cpu = current_cpu()
        if cpu != self.cpu:
            self.cpu = cpu
            struct.pack_into("<Q", self.ctx, 8 * abi.CPU, cpu)
            self.clear_sites()

    def _drop(self, machine: Any, stale: list[_Entry]) -> None:
        for entry in stale:
            if entry.held:
                entry.bpf_map._tlock.release()
                entry.held = False
            self.entries.remove(entry)
            self.by_handle.pop(entry.bpf_map.handle, None)
            if entry in self.mutable:
                self.mutable.remove(entry)
        self._write(machine)

    def arm(self) -> None:
        """Take the locks of natively updated maps that are free and clean; mark them armed."""
        table = self.table
        held = False
        for k, entry in enumerate(self.entries):
            if not entry.mutable or entry.held:
                continue
            m: Any = entry.bpf_map
            if m._tlock.acquire(False):
                if m._buf[OFF_DIRTY]:  # a crash or an exception left it half-updated: Python repairs
                    m._tlock.release()
                    continue
                entry.held = True
                held = True
                struct.pack_into("<q", table, k * _W + _slot(abi.MAP_ARMED), 1)
        self.held = self.held or held

    def disarm(self) -> None:
        """Release every map lock this engine holds (before Python runs, and after native code)."""
        if not self.held:
            return
        table = self.table
        for k, entry in enumerate(self.entries):
            if entry.held:
                struct.pack_into("<q", table, k * _W + _slot(abi.MAP_ARMED), 0)
                entry.held = False
                entry.bpf_map._tlock.release()
        self.held = False
