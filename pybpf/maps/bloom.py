"""BLOOM_FILTER maps (``kernel/bpf/bloom_filter.c`` semantics).

Layout after the 256-byte header: the bit array, ``nbits/8`` bytes (bit ``i`` is bit ``i % 8`` of
byte ``i // 8``, as the kernel's ``set_bit`` on a little-endian machine).

==========================  ====================================================
state word (offset)         meaning
==========================  ====================================================
192 u32 nr_hash_funcs       ``map_extra & 0xF``, 5 when zero
196 u32 bitset_mask         ``nbits - 1``
==========================  ====================================================

``nbits`` is ``max_entries * nr_hash_funcs * 7 / 5`` (about ``n*k/ln 2``, the optimum) rounded
up to a power of two, at least 64, and 2**32 when that would overflow u32, exactly as the kernel
sizes it.  Hash function ``i`` is ``hash64(value, i) & bitset_mask`` (:mod:`pybpf.maps.hashing`;
the kernel uses jhash with seed ``random + i``).

``push`` (flags must be ``BPF_ANY``) adds a value; ``peek`` answers 0 (possibly present) or
``-ENOENT`` (certainly absent), never a false negative.  There is no delete or pop
(``-EOPNOTSUPP``), and generic update is ``-EINVAL``.
"""

from __future__ import annotations

import errno
from typing import Any

from pybpf.maps.base import HEADER_SIZE, STATE, BpfMap, MapSpec, Plan, access_flags_ok, fail_create
from pybpf.maps.codec import RAW, Codec
from pybpf.maps.constants import BPF_ANY, BPF_F_ACCESS_MASK, BPF_F_NUMA_NODE, BPF_F_ZERO_SEED, KMALLOC_MAX_SIZE, MapType
from pybpf.maps.errors import MapError
from pybpf.maps.hashing import hash64

S_NHASH = STATE
S_MASK = STATE + 4
BLOOM_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_ZERO_SEED | BPF_F_ACCESS_MASK


def bitset_geometry(max_entries: int, nr_hash_funcs: int) -> tuple[int, int]:
    """(bytes, mask) of the bit array, following ``bloom_map_alloc``."""
    nr_bits = max_entries * nr_hash_funcs
    if nr_bits > 0xFFFFFFFF or (nr_bits // 5) * 7 > 0xFFFFFFFF or (nr_bits // 5) * 7 > 1 << 31:
        return (0xFFFFFFFF + 7) // 8, 0xFFFFFFFF
    nr_bits = (nr_bits // 5) * 7
    nr_bits = 64 if nr_bits <= 64 else 1 << (nr_bits - 1).bit_length()
    return nr_bits // 8, nr_bits - 1


class BloomFilterMap(BpfMap):
    """BPF_MAP_TYPE_BLOOM_FILTER."""

    map_type = MapType.BLOOM_FILTER

    @classmethod
    def validate(cls, spec: MapSpec) -> None:
        if spec.key_size != 0:
            fail_create(spec, -errno.EINVAL, f"key_size must be 0 for BLOOM_FILTER, got {spec.key_size}")
        if spec.value_size == 0 or spec.max_entries == 0:
            fail_create(spec, -errno.EINVAL, "value_size and max_entries must be non-zero")
        if spec.map_flags & ~BLOOM_CREATE_FLAG_MASK or not access_flags_ok(spec.map_flags):
            fail_create(spec, -errno.EINVAL, f"map_flags 0x{spec.map_flags:x} not valid for BLOOM_FILTER")
        if spec.map_extra & ~0xF:
            fail_create(spec, -errno.EINVAL, "only the low 4 bits of map_extra (number of hash functions) may be set")
        if spec.value_size > KMALLOC_MAX_SIZE:
            fail_create(spec, -errno.E2BIG, "value_size too large")

    @staticmethod
    def hash_funcs(spec: MapSpec) -> int:
        return spec.map_extra & 0xF or 5

    @classmethod
    def plan(cls, spec: MapSpec, ncpus: int) -> Plan:
        nbytes, mask = bitset_geometry(spec.max_entries, cls.hash_funcs(spec))
        return {"size": HEADER_SIZE + nbytes, "vis_lo": HEADER_SIZE, "vis_hi": HEADER_SIZE, "mask": mask}

    def _attach(self, plan: Plan) -> None:
        self._k = self.hash_funcs(self.spec)
        self._mask = plan["mask"]

    def _format(self) -> None:
        self._set32(S_NHASH, self._k)
        self._set32(S_MASK, self._mask)

    def _bits(self, value: bytes) -> list[int]:
        return [hash64(value, i) & self._mask for i in range(self._k)]

    # -- program-facing ---------------------------------------------------------------------------------
    def push(self, value: bytes, flags: int = 0) -> int:
        if flags != BPF_ANY:
            return -errno.EINVAL
        if len(value) != self.value_size:
            return -errno.EINVAL
        with self._wguard:
            buf = self._buf
            for bit in self._bits(value):
                buf[HEADER_SIZE + (bit >> 3)] |= 1 << (bit & 7)
        return 0

    def peek(self, value: bytes = b"") -> tuple[int, bytes]:
        if len(value) != self.value_size:
            return -errno.EINVAL, value
        buf = self._buf
        for bit in self._bits(value):
            if not buf[HEADER_SIZE + (bit >> 3)] & (1 << (bit & 7)):
                return -errno.ENOENT, value
        return 0, value

    def pop(self) -> tuple[int, bytes]:
        return -errno.EOPNOTSUPP, bytes(self.value_size)

    def delete(self, key: bytes) -> int:
        return -errno.EOPNOTSUPP

    def get_next_key(self, key: bytes | None) -> tuple[int, bytes]:
        return -errno.EOPNOTSUPP, b""

    # -- host -------------------------------------------------------------------------------------------
    def _data(self, value: Any, codec: Codec) -> bytes:
        try:
            return codec.encode(value, self.value_size)
        except (ValueError, TypeError) as exc:
            raise MapError(self.name, "encode value", errno.EINVAL, str(exc)) from None

    def add(self, value: Any, codec: Codec = RAW) -> None:
        """Host push: add ``value`` to the set."""
        self._host_perm("update")
        err = self.push(self._data(value, codec), BPF_ANY)
        if err:
            self._raise("push", err)

    def check(self, value: Any, codec: Codec = RAW) -> bool:
        """True when ``value`` may be present, False when it certainly is not."""
        self._host_perm("lookup")
        return self.peek(self._data(value, codec))[0] == 0

    def __contains__(self, value: object) -> bool:
        return self.check(value)

    def _dump_info(self) -> list[str]:
        ones = sum(bin(b).count("1") for b in self._buf[HEADER_SIZE : self._size])
        return [f"hash functions {self._k}  bits {self._mask + 1}  set {ones}"]
