"""HASH and PERCPU_HASH maps (``kernel/bpf/hashtab.c`` semantics), also the base of LRU and hash-of-maps.

Layout after the 256-byte header (``nb`` = ``roundup_pow_of_two(max_entries)`` buckets, elements
preallocated like the kernel's default prealloc mode):

==========================  =====================================================================
state word (offset)         meaning
==========================  =====================================================================
192 u32 count               elements present
196 u32 free_head           first recycled element (slot number, 0 = none), linked through ``next``
200 u32 bump                elements [bump, max_entries) have never been used
204 u32 n_buckets           ``nb``
208 u32 lru_head            LRU maps: most recently used element (0 = none)
212 u32 lru_tail            LRU maps: least recently used element (the next victim)
==========================  =====================================================================

* buckets at 256: ``nb`` x u32, the slot number of the first element of each chain (0 = empty);
* elements at ``el = round8(256 + 4*nb)``, ``max_entries`` x ``es`` bytes,
  ``es = 16 + round8(key_size)``: u32 ``next`` (chain or free list), u32 ``hash`` (low 32 bits
  of pybpf-hash64 of the key, see :mod:`pybpf.maps.hashing`), u32 ``lru_prev``, u32 ``lru_next``,
  then the key;
* values at ``vo = el + max_entries*es``: ``max_entries x ncpus_or_1 x vs`` bytes with
  ``vs = round8(value_size)``; the value of slot ``s`` (1-based) on CPU ``c`` is at
  ``vo + ((s-1)*n + c)*vs``.  Only this area is program-visible.

Slot numbers are 1-based so 0 means NULL.  A new element is linked at the head of its bucket
(``hash & (nb-1)``), so ``get_next_key`` walks bucket by bucket, chain order within a bucket, as
the kernel does.  Replacing an existing key copies the value in place (the kernel swaps in a new
element; the difference is only visible through a stale pointer).  ``BPF_F_NO_PREALLOC`` is
accepted and the map is still preallocated.
"""

from __future__ import annotations

import errno
import struct
from array import array
from typing import Any, ClassVar

from pybpf.maps.base import (
    HEADER_SIZE,
    STATE,
    U32,
    MapSpec,
    Plan,
    access_flags_ok,
    fail_create,
    round8,
)
from pybpf.maps.codec import Codec
from pybpf.maps.constants import (
    BPF_EXIST,
    BPF_F_ACCESS_MASK,
    BPF_F_LOCK,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_NUMA_NODE,
    BPF_F_RDONLY_PROG,
    BPF_F_ZERO_SEED,
    BPF_NOEXIST,
    HTAB_ELEM_SIZE,
    KMALLOC_MAX_SIZE,
    PCPU_MIN_UNIT_SIZE,
    MapType,
)
from pybpf.maps.errors import ENOTSUPP
from pybpf.maps.hashing import hash32
from pybpf.maps.host import KeyedMap

S_COUNT = STATE
S_FREE = STATE + 4
S_BUMP = STATE + 8
S_NBUCKETS = STATE + 12
S_LRU_HEAD = STATE + 16
S_LRU_TAIL = STATE + 20
ELEM_META = 16

HTAB_CREATE_FLAG_MASK = BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_ZERO_SEED

_II = struct.Struct("<II")
_IIII = struct.Struct("<IIII")


class HashMap(KeyedMap):
    """BPF_MAP_TYPE_HASH; subclasses switch on per-CPU values, LRU eviction or inner-map values."""

    map_type = MapType.HASH
    is_lru: ClassVar[bool] = False

    # -- creation -------------------------------------------------------------------------------------
    @classmethod
    def validate(cls, spec: MapSpec) -> None:
        flags = spec.map_flags
        percpu = cls.is_percpu
        lru = cls.is_lru
        if flags & ~HTAB_CREATE_FLAG_MASK or not access_flags_ok(flags):
            fail_create(spec, -errno.EINVAL, f"map_flags 0x{flags:x} not valid for a hash map")
        if not lru and flags & BPF_F_NO_COMMON_LRU:
            fail_create(spec, -errno.EINVAL, "BPF_F_NO_COMMON_LRU is only valid for LRU maps")
        if lru and flags & BPF_F_NO_PREALLOC:
            fail_create(spec, -ENOTSUPP, "LRU maps must be preallocated (BPF_F_NO_PREALLOC given)")
        if flags & BPF_F_NUMA_NODE and (percpu or flags & BPF_F_NO_COMMON_LRU):
            fail_create(spec, -errno.EINVAL, "BPF_F_NUMA_NODE is not valid for per-CPU maps")
        if spec.max_entries == 0 or spec.key_size == 0 or spec.value_size == 0:
            fail_create(spec, -errno.EINVAL, "key_size, value_size and max_entries must be non-zero")
        if spec.key_size + spec.value_size >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE:
            fail_create(spec, -errno.E2BIG, "key_size + value_size too large")
        if percpu and round8(spec.value_size) > PCPU_MIN_UNIT_SIZE:
            fail_create(spec, -errno.E2BIG, f"per-CPU value_size is limited to {PCPU_MIN_UNIT_SIZE}")
        if 1 << (spec.max_entries - 1).bit_length() > 0xFFFFFFFF // 16:
            fail_create(spec, -errno.E2BIG, "too many buckets")
        if spec.spin_lock_off >= 0 and (percpu or lru or spec.spin_lock_off + 4 > spec.value_size):
            fail_create(spec, -errno.EINVAL, "bpf_spin_lock is only supported inside HASH/ARRAY values")

    @classmethod
    def stored_value_size(cls, spec: MapSpec) -> int:
        return spec.value_size

    @classmethod
    def plan(cls, spec: MapSpec, ncpus: int) -> Plan:
        nb = 1 << (spec.max_entries - 1).bit_length()
        el = round8(HEADER_SIZE + 4 * nb)
        es = ELEM_META + round8(spec.key_size)
        vo = el + spec.max_entries * es
        vs = round8(cls.stored_value_size(spec))
        vn = ncpus if cls.is_percpu else 1
        size = vo + spec.max_entries * vn * vs
        return {"size": size, "vis_lo": vo, "vis_hi": size, "nb": nb, "el": el, "es": es, "vo": vo, "vs": vs, "vn": vn}

    def _attach(self, plan: Plan) -> None:
        self._bk = HEADER_SIZE
        self._nb = plan["nb"]
        self._bmask = plan["nb"] - 1
        self._el = plan["el"]
        self._es = plan["es"]
        self._vo = plan["vo"]
        self._vs = plan["vs"]
        self._vn = plan["vn"]
        self._ks = self.key_size
        self._vsz = self.stored_value_size(self.spec)
        self._lock_off = self.spec.spin_lock_off
        self._lookup_guard = self._wguard if self.is_lru else self._rguard

    def _format(self) -> None:
        self._set32(S_NBUCKETS, self._nb)

    # -- hooks for LRU ---------------------------------------------------------------------------------
    def _on_insert(self, slot: int) -> None:
        """A new element was linked."""

    def _on_update(self, slot: int) -> None:
        """An existing element's value was replaced."""

    def _on_access(self, slot: int) -> None:
        """A program looked the element up."""

    def _on_remove(self, slot: int) -> None:
        """An element is being unlinked."""

    def _alloc_when_full(self) -> int:
        """A slot when none is free: 0 (``-E2BIG``) for plain hash maps, eviction for LRU."""
        return 0

    # -- raw structure (lock held) ---------------------------------------------------------------------
    def _elem(self, slot: int) -> int:
        return self._el + (slot - 1) * self._es

    def _voff(self, slot: int, cpu: int = 0) -> int:
        return self._vo + ((slot - 1) * self._vn + cpu) * self._vs

    def _find(self, key: bytes, h: int) -> int:
        buf = self._buf
        ks = self._ks
        cur = U32.unpack_from(buf, self._bk + ((h & self._bmask) << 2))[0]
        while cur:
            e = self._el + (cur - 1) * self._es
            nxt, eh = _II.unpack_from(buf, e)
            if eh == h and buf[e + ELEM_META : e + ELEM_META + ks] == key:
                return int(cur)
            cur = nxt
        return 0

    def _unlink_chain(self, slot: int) -> None:
        """Remove ``slot`` from its bucket chain (one store makes it unreachable)."""
        buf = self._buf
        e = self._elem(slot)
        nxt, h = _II.unpack_from(buf, e)
        link = self._bk + ((h & self._bmask) << 2)
        cur = U32.unpack_from(buf, link)[0]
        while cur and cur != slot:
            link = self._elem(cur)
            cur = U32.unpack_from(buf, link)[0]
        if cur:
            U32.pack_into(buf, link, nxt)

    def _alloc(self) -> int:
        free = self._get32(S_FREE)
        if free:
            self._set32(S_FREE, self._get32(self._elem(free)))
            return free
        bump = self._get32(S_BUMP)
        if bump < self.max_entries:
            self._set32(S_BUMP, bump + 1)
            return bump + 1
        return self._alloc_when_full()

    def _store(self, slot: int, value: Any, cpu: int | None, new: bool) -> None:
        """Write a value: ``cpu`` None = host (per-CPU: one value per CPU), else the program's CPU."""
        buf = self._buf
        vsz = self._vsz
        if self.is_percpu:
            if cpu is None:
                for c, v in enumerate(value):
                    o = self._voff(slot, c)
                    buf[o : o + vsz] = v
                return
            if new:
                o = self._voff(slot, 0)
                buf[o : o + self._vn * self._vs] = bytes(self._vn * self._vs)
            o = self._voff(slot, cpu)
            buf[o : o + vsz] = value
            return
        o = self._voff(slot)
        lo = self._lock_off
        if lo < 0:
            buf[o : o + vsz] = value
        else:
            buf[o : o + lo] = value[:lo]
            buf[o + lo + 4 : o + vsz] = value[lo + 4 :]
            if new:
                buf[o + lo : o + lo + 4] = bytes(4)

    def _read(self, slot: int) -> Any:
        buf = self._buf
        vsz = self._vsz
        if self.is_percpu:
            return [bytes(buf[o : o + vsz]) for o in (self._voff(slot, c) for c in range(self._vn))]
        o = self._voff(slot)
        data = bytes(buf[o : o + vsz])
        lo = self._lock_off
        if lo >= 0:
            data = data[:lo] + bytes(4) + data[lo + 4 :]
        return data

    def _upd(self, key: bytes, value: Any, flags: int, cpu: int | None) -> int:
        h = hash32(key)
        slot = self._find(key, h)
        mode = flags & ~BPF_F_LOCK
        if slot:
            if mode == BPF_NOEXIST:
                return -errno.EEXIST
            self._store(slot, value, cpu, False)
            self._on_update(slot)
            return 0
        if mode == BPF_EXIST:
            return -errno.ENOENT
        slot = self._alloc()
        if not slot:
            return -errno.E2BIG
        buf = self._buf
        e = self._elem(slot)
        bucket = self._bk + ((h & self._bmask) << 2)
        _IIII.pack_into(buf, e, U32.unpack_from(buf, bucket)[0], h, 0, 0)
        buf[e + ELEM_META : e + ELEM_META + self._ks] = key
        self._store(slot, value, cpu, True)
        U32.pack_into(buf, bucket, slot)
        self._set32(S_COUNT, self._get32(S_COUNT) + 1)
        self._on_insert(slot)
        return 0

    def _del(self, key: bytes) -> int:
        slot = self._find(key, hash32(key))
        if not slot:
            return -errno.ENOENT
        self._remove_slot(slot)
        return 0

    def _remove_slot(self, slot: int) -> None:
        self._unlink_chain(slot)
        self._on_remove(slot)
        self._set32(self._elem(slot), self._get32(S_FREE))
        self._set32(S_FREE, slot)
        self._set32(S_COUNT, self._get32(S_COUNT) - 1)

    def _first_from(self, bucket: int) -> int:
        """Slot of the first element in buckets ``bucket``, ``bucket+1`` ... (0 when none)."""
        buf = self._buf
        bk = self._bk
        nb = self._nb
        while bucket < nb:
            stop = min(nb, bucket + 2048)
            chunk = bytes(buf[bk + 4 * bucket : bk + 4 * stop])
            rest = chunk.lstrip(b"\0")
            if rest:
                return self._get32(bk + 4 * (bucket + (len(chunk) - len(rest)) // 4))
            bucket = stop
        return 0

    def _next_key(self, key: bytes | None) -> tuple[int, bytes]:
        bucket = 0
        if key is not None and len(key) == self._ks:
            h = hash32(key)
            slot = self._find(key, h)
            if slot:
                nxt = self._get32(self._elem(slot))
                if nxt:
                    e = self._elem(nxt)
                    return 0, bytes(self._buf[e + ELEM_META : e + ELEM_META + self._ks])
                bucket = (h & self._bmask) + 1
        slot = self._first_from(bucket)
        if not slot:
            return -errno.ENOENT, b""
        e = self._elem(slot)
        return 0, bytes(self._buf[e + ELEM_META : e + ELEM_META + self._ks])

    def _slots(self) -> list[int]:
        """Every live slot in get_next_key order (lock held)."""
        buf = self._buf
        heads = array("I")
        heads.frombytes(bytes(buf[self._bk : self._bk + 4 * self._nb]))
        out: list[int] = []
        limit = self.max_entries
        for cur in heads:
            while cur and len(out) <= limit:
                out.append(cur)
                cur = U32.unpack_from(buf, self._el + (cur - 1) * self._es)[0]
        return out

    def _key_of(self, slot: int) -> bytes:
        e = self._elem(slot)
        return bytes(self._buf[e + ELEM_META : e + ELEM_META + self._ks])

    # -- flags ------------------------------------------------------------------------------------------
    def _check_flags(self, flags: int) -> int:
        if self.is_percpu or self.is_lru:
            return -errno.EINVAL if flags > BPF_EXIST or flags < 0 else 0
        if flags < 0 or (flags & ~BPF_F_LOCK) > BPF_EXIST:
            return -errno.EINVAL
        if flags & BPF_F_LOCK and self._lock_off < 0:
            return -errno.EINVAL
        return 0

    # -- program-facing ----------------------------------------------------------------------------------
    def lookup(self, key: bytes) -> int:
        if len(key) != self._ks:
            return 0
        h = hash32(key)
        with self._lookup_guard:
            slot = self._find(key, h)
            if not slot:
                return 0
            if self.is_lru:
                self._on_access(slot)
            return self._base + self._voff(slot, self._cpu() if self.is_percpu else 0)

    def lookup_percpu(self, key: bytes, cpu: int) -> int:
        if not self.is_percpu or not 0 <= cpu < self._vn or len(key) != self._ks:
            return 0
        h = hash32(key)
        with self._lookup_guard:
            slot = self._find(key, h)
            if not slot:
                return 0
            if self.is_lru:
                self._on_access(slot)
            return self._base + self._voff(slot, cpu)

    def update(self, key: bytes, value: bytes, flags: int = 0) -> int:
        err = self._check_flags(flags)
        if err:
            return err
        if len(key) != self._ks or len(value) != self.value_size:
            return -errno.EINVAL
        if self.map_flags & BPF_F_RDONLY_PROG:
            return -errno.EPERM
        with self._wguard:
            return self._upd(key, value, flags, self._cpu() if self.is_percpu else 0)

    def delete(self, key: bytes) -> int:
        if len(key) != self._ks:
            return -errno.EINVAL
        if self.map_flags & BPF_F_RDONLY_PROG:
            return -errno.EPERM
        with self._wguard:
            return self._del(key)

    def get_next_key(self, key: bytes | None) -> tuple[int, bytes]:
        with self._rguard:
            return self._next_key(key)

    def elements(self) -> list[tuple[bytes, int]]:
        """(key, value address on the current CPU) of every element, for ``bpf_for_each_map_elem``."""
        cpu = self._cpu() if self.is_percpu else 0
        with self._rguard:
            return [(self._key_of(s), self._base + self._voff(s, cpu)) for s in self._slots()]

    # -- host primitives -------------------------------------------------------------------------------
    def _encode_value(self, obj: Any, codec: Codec) -> Any:
        """Per-CPU maps take a list (one value per CPU), the raw ``ncpus * round8(value_size)`` bytes
        libbpf uses, or one value that is stored on every CPU."""
        size = self.value_size
        if not self.is_percpu:
            return codec.encode(obj, size)
        if isinstance(obj, list):
            if len(obj) != self._vn:
                raise ValueError(f"per-CPU value needs {self._vn} values (one per CPU), got {len(obj)}")
            return [codec.encode(v, size) for v in obj]
        if isinstance(obj, (bytes, bytearray)) and len(obj) == self._vn * self._vs and len(obj) != size:
            return [bytes(obj[i * self._vs : i * self._vs + size]) for i in range(self._vn)]
        return [codec.encode(obj, size)] * self._vn

    def _decode_value(self, raw: Any, codec: Codec) -> Any:
        if self.is_percpu:
            return [codec.decode(v) for v in raw]
        return codec.decode(raw)

    def _host_lookup(self, key: bytes) -> Any | None:
        with self._rguard:
            slot = self._find(key, hash32(key))
            return self._read(slot) if slot else None

    def _host_update(self, key: bytes, value: Any, flags: int) -> int:
        err = self._check_flags(flags)
        if err:
            return err
        with self._wguard:
            return self._upd(key, value, flags, None)

    def _host_delete(self, key: bytes) -> int:
        with self._wguard:
            return self._del(key)

    def _host_keys(self) -> list[bytes]:
        with self._rguard:
            return [self._key_of(s) for s in self._slots()]

    def _host_len(self) -> int:
        with self._rguard:
            return self._get32(S_COUNT)

    def _host_clear(self) -> None:
        with self._wguard:
            self._buf[self._bk : self._bk + 4 * self._nb] = bytes(4 * self._nb)
            for off in (S_COUNT, S_FREE, S_BUMP, S_LRU_HEAD, S_LRU_TAIL):
                self._set32(off, 0)

    # -- crash repair and checking ------------------------------------------------------------------------
    def _reachable(self, fix: bool) -> tuple[list[int], list[str]]:
        """Walk every chain; with ``fix`` cut chains at the first bad link.  Returns live slots, problems."""
        buf = self._buf
        bump = min(self._get32(S_BUMP), self.max_entries)
        seen = bytearray(self.max_entries + 1)
        live: list[int] = []
        problems: list[str] = []
        for b in range(self._nb):
            link = self._bk + 4 * b
            cur = self._get32(link)
            while cur:
                bad = ""
                if cur > bump:
                    bad = f"bucket {b}: slot {cur} beyond the used range {bump}"
                elif seen[cur]:
                    bad = f"bucket {b}: slot {cur} linked twice"
                else:
                    h = self._get32(self._elem(cur) + 4)
                    if h & self._bmask != b:
                        bad = f"bucket {b}: slot {cur} has hash of bucket {h & self._bmask}"
                    elif hash32(self._key_of(cur)) != h:
                        bad = f"bucket {b}: slot {cur} key does not match its hash"
                if bad:
                    problems.append(bad)
                    if fix:
                        U32.pack_into(buf, link, 0)
                    break
                seen[cur] = 1
                live.append(cur)
                link = self._elem(cur)
                cur = self._get32(link)
        return live, problems

    def _repair(self) -> None:
        live, _ = self._reachable(fix=True)
        bump = min(self._get32(S_BUMP), self.max_entries)
        self._set32(S_BUMP, bump)
        used = set(live)
        free = 0
        for slot in range(bump, 0, -1):
            if slot not in used:
                self._set32(self._elem(slot), free)
                free = slot
        self._set32(S_FREE, free)
        self._set32(S_COUNT, len(live))
        self._repair_lru(live)

    def _repair_lru(self, live: list[int]) -> None:
        """LRU maps rebuild their list here."""

    def check_consistency(self) -> list[str]:
        with self._rguard:
            live, problems = self._reachable(fix=False)
            count = self._get32(S_COUNT)
            if count != len(live):
                problems.append(f"count {count} but {len(live)} reachable elements")
            bump = self._get32(S_BUMP)
            used = set(live)
            free: set[int] = set()
            cur = self._get32(S_FREE)
            while cur:
                if cur in used or cur in free or cur > bump:
                    problems.append(f"free list: bad slot {cur}")
                    break
                free.add(cur)
                cur = self._get32(self._elem(cur))
            if len(used) + len(free) != bump:
                problems.append(f"{bump} slots used so far but {len(used)} live + {len(free)} free")
            keys = [self._key_of(s) for s in live]
            if len(set(keys)) != len(keys):
                problems.append("duplicate keys")
            problems.extend(self._check_lru(used))
            return problems

    def _check_lru(self, live: set[int]) -> list[str]:
        return []

    # -- text ------------------------------------------------------------------------------------------
    def _explain(self, op: str, err: int, flags: int = 0) -> str:
        if op == "update" and abs(err) == errno.EINVAL and flags & BPF_F_LOCK and self._lock_off < 0:
            return "BPF_F_LOCK needs a bpf_spin_lock in the value"
        return super()._explain(op, err, flags)

    def _dump_rows(self) -> list[tuple[str, str]]:
        with self._rguard:
            rows = []
            for s in self._slots():
                value = self._read(s)
                rows.append((self.key_text(self._key_of(s)), self.value_text(value)))
            return rows


class PerCpuHashMap(HashMap):
    """BPF_MAP_TYPE_PERCPU_HASH: one value per virtual CPU."""

    map_type = MapType.PERCPU_HASH
    is_percpu = True
