"""What every map shares: the spec, the one buffer with its header, locking, and the handle registry.

Why one buffer: a program writes map values through the pointer ``bpf_map_lookup_elem`` returns,
so values must sit at fixed real addresses (a :class:`~pybpf.vm.memory.Region` over the buffer);
a pinned map is the same bytes in a shared memory-mapped file, so no state may live only in Python
objects; and a JIT can later implement lookups natively on the same layout.

Common header (256 bytes, little-endian), at offset 0 of every map buffer and pin file:

====  ====  ==================================================================================
off   size  field
====  ====  ==================================================================================
0     8     magic ``b"PYBPFMAP"``
8     4     layout version (1)
12    4     map_type
16    4     key_size
20    4     value_size
24    4     max_entries
28    4     map_flags
32    8     map_extra
40    4     ncpus: the number of virtual CPUs per-CPU layouts were built for
44    4     data_off = 256: where the type-specific layout starts
48    8     total buffer size in bytes
56    4     dirty: non-zero while a mutation is in progress (a crash leaves it set; see below)
60    4     spin_lock_off (i32): offset of a ``struct bpf_spin_lock`` in the value, -1 if none
64    64    map name, UTF-8, NUL padded
128   20    inner-map template (map-of-maps): type, key_size, value_size, max_entries, map_flags
148   44    reserved, zero
192   64    type-specific state words (each map module documents its own)
====  ====  ==================================================================================

Locking: every operation that walks or changes a layout holds the map's lock: a
``threading.Lock``, plus for pinned maps an exclusive ``flock`` on the pin file so processes
sharing the file exclude each other.  A mutation sets ``dirty`` first and clears it last; whoever
next takes the lock and finds ``dirty`` set (the previous holder died mid-update, e.g. SIGKILL)
runs the type's repair, which rebuilds derived state (free lists, counts, LRU order) from the
authoritative structure.  Every mutation is ordered so that structure is valid after each store
(an element is fully written before the single store that links it).
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import struct
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, ClassVar, NoReturn, Protocol

from pybpf.maps import percpu
from pybpf.maps.constants import (
    BPF_F_RDONLY,
    BPF_F_RDONLY_PROG,
    BPF_F_WRONLY,
    BPF_F_WRONLY_PROG,
    MapType,
    type_name,
)
from pybpf.maps.errors import MapError, MapKeyError
from pybpf.vm.memory import Buffer, Region

MAGIC = b"PYBPFMAP"
LAYOUT_VERSION = 1
HEADER_SIZE = 256
STATE = 192
OFF_DIRTY = 56
NAME_BYTES = 64

HEADER = struct.Struct("<8sIIIIIIQIIQIi64sIIIII")
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")

Plan = dict[str, int]


def round8(n: int) -> int:
    return (n + 7) & ~7


class ValueFormat(Protocol):
    """How keys or values of a map are shown, when its object described their type (BTF).

    :class:`pybpf.elf.btf_format.BtfFormat` is the implementation; the map layer only needs this
    much.  Both methods return None for data that cannot be read through the type, which is then
    shown in hex.
    """

    @property
    def name(self) -> str:
        """The type's C spelling (``struct counter``, ``__u32``)."""
        ...

    def decode(self, data: bytes) -> Any:
        """Python data for ``data`` (dicts, lists, ints, strings), or None."""
        ...

    def text(self, data: bytes) -> str | None:
        """One line of text for ``data``, or None."""
        ...


@dataclass
class MapSpec:
    """What ``BPF_MAP_CREATE`` takes, plus libbpf's pinning mode.

    ``inner`` is the inner-map template of ARRAY_OF_MAPS / HASH_OF_MAPS.  ``key_btf`` and
    ``value_btf`` say how to show keys and values (a :class:`ValueFormat`, from the object's BTF;
    None shows hex); they take no part in comparing specs.  ``spin_lock_off`` is the
    offset of a ``struct bpf_spin_lock`` inside the value (``-1``: none); it is what allows
    ``BPF_F_LOCK``, and the lock word is never overwritten by value copies (as in the kernel).
    ``numa_node`` is accepted and ignored.
    """

    name: str
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int = 0
    map_extra: int = 0
    inner: MapSpec | None = None
    pinning: int = 0
    key_btf: ValueFormat | None = field(default=None, compare=False)
    value_btf: ValueFormat | None = field(default=None, compare=False)
    numa_node: int = 0
    spin_lock_off: int = -1


@dataclass
class Storage:
    """The buffer holding a map's whole state; ``fd``/``path`` are set when it is a pin file."""

    buf: Buffer
    fd: int | None = None
    path: str | None = None


@dataclass
class HeaderInfo:
    spec: MapSpec
    ncpus: int
    size: int
    version: int


_REGISTRY: weakref.WeakValueDictionary[int, BpfMap] = weakref.WeakValueDictionary()


def map_by_handle(handle: int) -> BpfMap | None:
    """The live map whose :attr:`BpfMap.handle` is ``handle`` (what helpers receive in r1)."""
    return _REGISTRY.get(handle)


def access_flags_ok(flags: int) -> bool:
    """``bpf_map_flags_access_ok``: not both read-only and write-only, for syscall or programs."""
    both_sys = flags & BPF_F_RDONLY and flags & BPF_F_WRONLY
    both_prog = flags & BPF_F_RDONLY_PROG and flags & BPF_F_WRONLY_PROG
    return not (both_sys or both_prog)


def fail_create(spec: MapSpec, err: int, reason: str) -> NoReturn:
    raise MapError(spec.name, "create", err, reason)


def write_header(buf: Buffer, spec: MapSpec, ncpus: int, size: int) -> None:
    inner = spec.inner
    name = spec.name.encode("utf-8")[: NAME_BYTES - 1]
    HEADER.pack_into(
        buf,
        0,
        MAGIC,
        LAYOUT_VERSION,
        spec.map_type,
        spec.key_size,
        spec.value_size,
        spec.max_entries,
        spec.map_flags,
        spec.map_extra,
        ncpus,
        HEADER_SIZE,
        size,
        0,
        spec.spin_lock_off,
        name,
        inner.map_type if inner else 0,
        inner.key_size if inner else 0,
        inner.value_size if inner else 0,
        inner.max_entries if inner else 0,
        inner.map_flags if inner else 0,
    )


def parse_header(data: bytes) -> HeaderInfo | None:
    """The spec a buffer's header describes, or None when ``data`` is not a pybpf map header."""
    if len(data) < HEADER.size or data[:8] != MAGIC:
        return None
    (_, version, mtype, ks, vs, maxe, flags, extra, ncpus, _data_off, size, _dirty, slo, name, *inner) = (
        HEADER.unpack_from(data, 0)
    )
    spec = MapSpec(
        name=name.rstrip(b"\0").decode("utf-8", "replace"),
        map_type=mtype,
        key_size=ks,
        value_size=vs,
        max_entries=maxe,
        map_flags=flags,
        map_extra=extra,
        spin_lock_off=slo,
    )
    if inner[0]:
        spec.inner = MapSpec(f"{spec.name}.inner", inner[0], inner[1], inner[2], inner[3], inner[4])
    return HeaderInfo(spec, ncpus, size, version)


class _Guard:
    """``with map._wguard:`` / ``with map._rguard:`` hold the map's lock (write: mark dirty).

    The locking is written out here rather than in methods because it wraps every map operation.
    """

    __slots__ = ("_map", "_write")

    def __init__(self, m: BpfMap, write: bool) -> None:
        self._map = m
        self._write = write

    def __enter__(self) -> None:
        m = self._map
        m._tlock.acquire()
        try:
            fd = m._storage.fd
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            buf = m._buf
            if buf[OFF_DIRTY]:
                m._repair()
                buf[OFF_DIRTY] = 0
            if self._write:
                buf[OFF_DIRTY] = 1
        except BaseException:
            m._unlock()
            raise

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        m = self._map
        if self._write and exc_type is None:
            m._buf[OFF_DIRTY] = 0
        m._unlock()


class BpfMap:
    """Base of every map type.

    Program-facing operations (what helpers call) take and return raw values the way the kernel
    does: keys and values as ``bytes`` of exactly ``key_size``/``value_size``, results as ``0`` or
    ``-errno``, pointers as real addresses (``0`` = NULL).  The defaults here are the answers of a
    map type that does not support the operation.

    ``region`` is the program-visible memory (values); ``handle`` is a unique real address that
    identifies the map (the value of a map pointer in a register); see :func:`map_by_handle`.
    """

    map_type: ClassVar[int] = MapType.UNSPEC
    is_percpu: ClassVar[bool] = False
    #: False for maps whose slots hold process-local references (programs, inner maps).
    pinnable: ClassVar[bool] = True

    def __init__(self, spec: MapSpec, storage: Storage, ncpus: int, fresh: bool) -> None:
        self.spec = spec
        self.name = spec.name
        self.key_size = spec.key_size
        self.value_size = spec.value_size
        self.max_entries = spec.max_entries
        self.map_flags = spec.map_flags
        self.map_extra = spec.map_extra
        self.ncpus = ncpus
        self._storage = storage
        self._buf: Buffer = storage.buf
        self._tlock = threading.Lock()
        self._wguard = _Guard(self, True)
        self._rguard = _Guard(self, False)
        self._handle_region = Region(f"map:{spec.name}", 1, kind="map", readable=False, writable=False)
        self.handle = self._handle_region.base
        plan = self.plan(spec, ncpus)
        self._size = plan["size"]
        self._vis = (plan["vis_lo"], plan["vis_hi"])
        if len(self._buf) < self._size:
            raise MapError(
                spec.name, "open", errno.EINVAL, f"buffer is {len(self._buf)} bytes, layout needs {self._size}"
            )
        self._attach(plan)
        if fresh:
            write_header(self._buf, spec, ncpus, self._size)
            self._format()
        self.region = self._make_region()
        self._base = self.region.base
        self._closed = False
        self._finalizer = weakref.finalize(self, _close_storage, storage)
        _REGISTRY[self.handle] = self

    # -- layout (overridden per type) -----------------------------------------------------------
    @classmethod
    def validate(cls, spec: MapSpec) -> None:
        """Raise MapError(create) if the kernel would refuse to create ``spec``."""

    @classmethod
    def plan(cls, spec: MapSpec, ncpus: int) -> Plan:
        """Offsets and total ``size`` of the layout; ``vis_lo``/``vis_hi`` bound the program-visible part."""
        return {"size": HEADER_SIZE, "vis_lo": HEADER_SIZE, "vis_hi": HEADER_SIZE}

    def _attach(self, plan: Plan) -> None:
        """Take the offsets of ``plan`` (called for new and for reopened buffers)."""

    def _format(self) -> None:
        """Initialise the state words of a new, zero-filled buffer."""

    def _repair(self) -> None:
        """Rebuild derived state after a crash in the middle of a mutation (``dirty`` was set)."""

    def check_consistency(self) -> list[str]:
        """Problems found in the layout (empty when consistent); used by tests and ``dump``."""
        return []

    # -- state words ----------------------------------------------------------------------------
    def _get32(self, off: int) -> int:
        return int(U32.unpack_from(self._buf, off)[0])

    def _set32(self, off: int, value: int) -> None:
        U32.pack_into(self._buf, off, value)

    def _get64(self, off: int) -> int:
        return int(U64.unpack_from(self._buf, off)[0])

    def _set64(self, off: int, value: int) -> None:
        U64.pack_into(self._buf, off, value)

    # -- locking --------------------------------------------------------------------------------
    def _unlock(self) -> None:
        try:
            fd = self._storage.fd
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._tlock.release()

    # -- region, CPU ----------------------------------------------------------------------------
    def _make_region(self) -> Region:
        region = Region(
            f"map:{self.name}",
            self._buf,
            kind="map_value",
            readable=not self.map_flags & BPF_F_WRONLY_PROG,
            writable=not self.map_flags & BPF_F_RDONLY_PROG,
        )
        region.lo, region.hi = self._vis
        return region

    def _cpu(self) -> int:
        cpu = percpu.current_cpu()
        return cpu if cpu < self.ncpus else cpu % self.ncpus

    # -- program-facing operations (kernel results) ----------------------------------------------
    def lookup(self, key: bytes) -> int:
        """``bpf_map_lookup_elem``: address of the value (current CPU), 0 for NULL."""
        return 0

    def lookup_percpu(self, key: bytes, cpu: int) -> int:
        """``bpf_map_lookup_percpu_elem``: address of ``cpu``'s value, 0 for NULL."""
        return 0

    def update(self, key: bytes, value: bytes, flags: int = 0) -> int:
        """``bpf_map_update_elem``: 0 or -errno."""
        return -errno.EINVAL

    def delete(self, key: bytes) -> int:
        """``bpf_map_delete_elem``: 0 or -errno."""
        return -errno.EINVAL

    def get_next_key(self, key: bytes | None) -> tuple[int, bytes]:
        """``BPF_MAP_GET_NEXT_KEY``: (0, next key) or (-errno, b"")."""
        return -errno.EINVAL, b""

    def push(self, value: bytes, flags: int = 0) -> int:
        """``bpf_map_push_elem``: 0 or -errno."""
        return -errno.EINVAL

    def pop(self) -> tuple[int, bytes]:
        """``bpf_map_pop_elem``: (0 or -errno, value)."""
        return -errno.EINVAL, bytes(self.value_size)

    def peek(self, value: bytes = b"") -> tuple[int, bytes]:
        """``bpf_map_peek_elem``: (0 or -errno, value); a bloom filter checks ``value``."""
        return -errno.EINVAL, bytes(self.value_size)

    # -- host-side errors -----------------------------------------------------------------------
    def _explain(self, op: str, err: int, flags: int = 0) -> str:
        """Words for ``-err`` from ``op``, for MapError messages."""
        e = abs(err)
        tname = type_name(self.map_type)
        if e == errno.EPERM:
            return "forbidden by the map's BPF_F_RDONLY/BPF_F_WRONLY flags"
        if op == "update":
            if e == errno.EEXIST:
                return "key exists, BPF_NOEXIST"
            if e == errno.ENOENT:
                return "key does not exist, BPF_EXIST"
            if e == errno.E2BIG:
                return f"map is full, max_entries {self.max_entries}"
            if e == errno.EINVAL:
                return f"flags 0x{flags:x} not valid for {tname}" if flags else f"not supported by {tname}"
        if e == errno.ENOENT:
            return "no more keys" if op == "next_key" else "key does not exist"
        if e == errno.EINVAL:
            return f"{op} is not supported by {tname}"
        if e in (errno.EOPNOTSUPP, 524):
            return f"{op} is not supported by {tname}"
        return ""

    def _raise(self, op: str, err: int, flags: int = 0) -> NoReturn:
        cls = MapKeyError if abs(err) == errno.ENOENT and op in ("lookup", "delete") else MapError
        raise cls(self.name, op, err, self._explain(op, err, flags))

    def _host_perm(self, op: str) -> None:
        """The syscall side's access check (BPF_F_RDONLY / BPF_F_WRONLY), raising EPERM."""
        if op in ("lookup", "next_key") and self.map_flags & BPF_F_WRONLY:
            self._raise(op, -errno.EPERM)
        if op in ("update", "delete") and self.map_flags & BPF_F_RDONLY:
            self._raise(op, -errno.EPERM)

    # -- lifetime, pinning ------------------------------------------------------------------------
    @property
    def pinned_path(self) -> str | None:
        return self._storage.path

    @property
    def closed(self) -> bool:
        return self._closed

    def _rebind(self, storage: Storage) -> None:
        """Move the state into ``storage`` (a pin file holding a copy); ``pin`` calls it holding ``_tlock``.

        The region is rebuilt at the new address: pin a map before giving its region to programs.
        """
        old = self.region
        self._storage = storage
        self._buf = storage.buf
        self.region = self._make_region()
        self._base = self.region.base
        old.release()
        self._finalizer = weakref.finalize(self, _close_storage, storage)

    def snapshot_bytes(self) -> bytes:
        """A consistent copy of the whole buffer (taken under the lock)."""
        with self._rguard:
            return bytes(self._buf[: self._size])

    def close(self) -> None:
        """Unregister the handle and, for pinned maps, unmap the file (the pin stays)."""
        if self._closed:
            return
        self._closed = True
        _REGISTRY.pop(self.handle, None)
        self.region.release()
        self._finalizer()

    # -- dumping ----------------------------------------------------------------------------------
    def key_text(self, key: bytes) -> str:
        """A key as :meth:`dump` shows it: through the key's BTF type when known, else hex."""
        fmt = self.spec.key_btf
        text = fmt.text(key) if fmt is not None else None
        return hexbytes(key) if text is None else text

    def value_text(self, value: bytes | list[bytes]) -> str:
        """A value (a list of per-CPU values) as :meth:`dump` shows it: through BTF, else hex."""
        if isinstance(value, list):
            return "  ".join(f"cpu{i}: {self.value_text(v)}" for i, v in enumerate(value))
        fmt = self.spec.value_btf
        text = fmt.text(value) if fmt is not None else None
        return hexbytes(value) if text is None else text

    def _dump_rows(self) -> list[tuple[str, str]]:
        """(key, value) text rows for :meth:`dump`."""
        return []

    def _dump_info(self) -> list[str]:
        """Extra lines (positions, counters) for :meth:`dump`."""
        return []

    def dump(self) -> str:
        """A readable table: type, sizes, flags, then every entry (through BTF when known, else hex)."""
        lines = [
            f"map {self.name!r}: {type_name(self.map_type)} ({self.map_type})  key_size {self.key_size}  "
            f"value_size {self.value_size}  max_entries {self.max_entries}  flags 0x{self.map_flags:x}"
            + (f"  map_extra 0x{self.map_extra:x}" if self.map_extra else "")
            + (f"  cpus {self.ncpus}" if self.is_percpu else "")
        ]
        if self.pinned_path:
            lines.append(f"pinned at {self.pinned_path}")
        types = [(what, fmt.name) for what, fmt in (("key", self.spec.key_btf), ("value", self.spec.value_btf)) if fmt]
        if types:
            lines.append("btf  " + "  ".join(f"{what} {name}" for what, name in types))
        lines.extend(self._dump_info())
        rows = self._dump_rows()
        lines.append(f"{len(rows)} entries")
        if rows:
            width = max(3, *(len(k) for k, _ in rows))
            lines.append(f"{'key'.ljust(width)}  value")
            lines.extend(f"{k.ljust(width)}  {v}" for k, v in rows)
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name!r} {type_name(self.map_type)} key={self.key_size} "
            f"value={self.value_size} max={self.max_entries} handle=0x{self.handle:x}>"
        )


def _close_storage(storage: Storage) -> None:
    """Unmap and close a pin file's storage (at ``close()`` or when the map is collected)."""
    fd = storage.fd
    if fd is None:
        return
    storage.fd = None
    buf = storage.buf
    if isinstance(buf, mmap.mmap):
        try:
            buf.close()
        except BufferError:
            pass  # a Region still exports it; the mapping goes away with the last reference
    os.close(fd)


def hexbytes(data: bytes) -> str:
    return data.hex(" ") if data else "-"
