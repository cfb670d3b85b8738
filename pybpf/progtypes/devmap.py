"""Redirect maps: DEVMAP, DEVMAP_HASH, CPUMAP and XSKMAP, as records of where a packet should go.

In the kernel these maps hold network devices, CPUs and AF_XDP sockets; ``bpf_redirect_map``
looks a slot up and the driver later moves the frame there.  User space has none of those
objects, so pybpf keeps what the program can observe -- which slots are filled and with which
number (ifindex, queue size, socket id) -- and the program-type runtimes turn a successful
``bpf_redirect_map`` into a :class:`RedirectTarget` on the run result.  A live switch or a test
then decides what the number means.

The maps are keyed maps with u32 keys built on the hash map's storage (values must sit at fixed
addresses because programs may look them up), with the kernel's update rules on top:

* array flavours (DEVMAP, CPUMAP, XSKMAP): a key >= ``max_entries`` gives ``-E2BIG``, ``BPF_NOEXIST``
  gives ``-EEXIST`` (every slot exists), storing ifindex / qsize / socket 0 empties the slot, and
  deleting an empty slot succeeds;
* DEVMAP_HASH: hash semantics (``BPF_NOEXIST``/``BPF_EXIST``, ``-ENOENT`` on a missing key), an
  ifindex of 0 is refused with ``-EINVAL``.

Importing this module registers the four types with :func:`pybpf.maps.create_map`, so objects
that declare them load; ``pybpf.progtypes`` runtimes import it for you.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass
from typing import Any, ClassVar

from pybpf.maps import BPF_EXIST, BPF_NOEXIST, MapSpec, MapType
from pybpf.maps.base import fail_create
from pybpf.maps.constants import BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_RDONLY_PROG, BPF_F_WRONLY, BPF_F_WRONLY_PROG
from pybpf.maps.factory import MAP_CLASSES
from pybpf.maps.hash import HashMap

BPF_F_BROADCAST = 1 << 3
BPF_F_EXCLUDE_INGRESS = 1 << 4
_CREATE_FLAGS = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG
_U32 = struct.Struct("<I")


@dataclass(frozen=True)
class RedirectTarget:
    """Where a program asked for the packet to go.

    ``kind`` is ``"ifindex"`` (``bpf_redirect``), or the map type in lower case
    (``"devmap"``, ``"devmap_hash"``, ``"cpumap"``, ``"xskmap"``) for ``bpf_redirect_map``.
    ``key`` is the map key (or the ifindex for ``bpf_redirect``); ``value`` the number stored in
    the slot (ifindex for device maps, queue size for CPU maps, socket id for XSK maps).
    ``broadcast`` lists every ifindex of a ``BPF_F_BROADCAST`` redirect (the ingress one left out
    with ``BPF_F_EXCLUDE_INGRESS``).
    """

    kind: str
    key: int
    value: int
    map_name: str | None = None
    flags: int = 0
    broadcast: tuple[int, ...] = ()

    @property
    def ifindex(self) -> int | None:
        """The output device, when the target is one (``bpf_redirect``, device maps)."""
        if self.kind in ("ifindex", "devmap", "devmap_hash"):
            return self.value
        return None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "key": self.key, "value": self.value}
        if self.map_name is not None:
            out["map"] = self.map_name
        if self.flags:
            out["flags"] = self.flags
        if self.broadcast:
            out["broadcast"] = list(self.broadcast)
        return out


class RedirectMap(HashMap):
    """Common base: u32 keys, a u32 first value word naming the target (0 = empty)."""

    map_type = MapType.DEVMAP
    kind: ClassVar[str] = "devmap"
    array_like: ClassVar[bool] = True
    value_sizes: ClassVar[tuple[int, ...]] = (4, 8)
    #: flags ``bpf_redirect_map`` accepts besides the fallback action in the low two bits
    redirect_flags: ClassVar[int] = 0

    @classmethod
    def validate(cls, spec: MapSpec) -> None:
        if spec.map_flags & ~_CREATE_FLAGS:
            fail_create(spec, -errno.EINVAL, f"map_flags 0x{spec.map_flags:x} not valid for a {cls.kind}")
        if spec.key_size != 4:
            fail_create(spec, -errno.EINVAL, f"a {cls.kind} needs key_size 4, got {spec.key_size}")
        if spec.value_size not in cls.value_sizes:
            sizes = " or ".join(map(str, cls.value_sizes))
            fail_create(spec, -errno.EINVAL, f"a {cls.kind} needs value_size {sizes}, got {spec.value_size}")
        if spec.max_entries == 0:
            fail_create(spec, -errno.EINVAL, "max_entries must be non-zero")

    # -- kernel update rules, shared by the program and the host side -------------------------------
    def _precheck(self, key: bytes, value: bytes, flags: int) -> int | None:
        """-errno to return, 0 to report success without storing (an emptied slot), None to store."""
        if flags < 0 or flags > BPF_EXIST:
            return -errno.EINVAL
        if len(key) != 4 or len(value) != self.value_size:
            return -errno.EINVAL
        index = _U32.unpack(key)[0]
        target = _U32.unpack_from(value)[0]
        if self.array_like:
            if index >= self.max_entries:
                return -errno.E2BIG
            if flags == BPF_NOEXIST:
                return -errno.EEXIST
            if target == 0:
                super()._host_delete(key)
                return 0
            return None
        if target == 0:
            return -errno.EINVAL
        return None

    def update(self, key: bytes, value: bytes, flags: int = 0) -> int:
        early = self._precheck(key, value, flags)
        if early is not None:
            return early
        return super().update(key, value, 0 if self.array_like else flags)

    def _host_update(self, key: bytes, value: Any, flags: int) -> int:
        early = self._precheck(key, bytes(value), flags)
        if early is not None:
            return early
        return super()._host_update(key, value, 0 if self.array_like else flags)

    def delete(self, key: bytes) -> int:
        return self._delete(key, super().delete)

    def _host_delete(self, key: bytes) -> int:
        return self._delete(key, super()._host_delete)

    def _delete(self, key: bytes, remove: Any) -> int:
        if not self.array_like:
            return int(remove(key))
        if len(key) != 4 or _U32.unpack(key)[0] >= self.max_entries:
            return -errno.EINVAL
        rc = int(remove(key))
        return 0 if rc == -errno.ENOENT else rc

    def get_next_key(self, key: bytes | None) -> tuple[int, bytes]:
        if not self.array_like:
            return super().get_next_key(key)
        index = _U32.unpack(key)[0] if key is not None and len(key) == 4 else None
        nxt = 0 if index is None or index >= self.max_entries else index + 1
        if nxt >= self.max_entries:
            return -errno.ENOENT, b""
        return 0, _U32.pack(nxt)

    # -- what redirect_map needs -------------------------------------------------------------------
    def target(self, key: int) -> int | None:
        """The number stored at ``key`` (ifindex, qsize, socket id), None for an empty slot."""
        raw = self._host_lookup(_U32.pack(key & 0xFFFF_FFFF))
        if raw is None:
            return None
        return int(_U32.unpack_from(bytes(raw))[0])

    def targets(self) -> list[tuple[int, int]]:
        """(key, value) of every filled slot, in key order."""
        out = []
        for key in self._host_keys():
            value = self.target(_U32.unpack(key)[0])
            if value is not None:
                out.append((_U32.unpack(key)[0], value))
        return sorted(out)


class DevMap(RedirectMap):
    """BPF_MAP_TYPE_DEVMAP: slot -> ifindex (value ``u32 ifindex`` or ``struct bpf_devmap_val``)."""

    map_type = MapType.DEVMAP
    kind = "devmap"
    redirect_flags = BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS


class DevMapHash(RedirectMap):
    """BPF_MAP_TYPE_DEVMAP_HASH: any u32 key -> ifindex."""

    map_type = MapType.DEVMAP_HASH
    kind = "devmap_hash"
    array_like = False
    redirect_flags = BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS


class CpuMap(RedirectMap):
    """BPF_MAP_TYPE_CPUMAP: CPU -> queue size (value ``u32 qsize`` or ``struct bpf_cpumap_val``)."""

    map_type = MapType.CPUMAP
    kind = "cpumap"


class XskMap(RedirectMap):
    """BPF_MAP_TYPE_XSKMAP: receive queue -> AF_XDP socket; pybpf stores any non-zero socket id."""

    map_type = MapType.XSKMAP
    kind = "xskmap"
    value_sizes = (4,)


REDIRECT_MAP_CLASSES: dict[int, type[RedirectMap]] = {
    MapType.DEVMAP: DevMap,
    MapType.DEVMAP_HASH: DevMapHash,
    MapType.CPUMAP: CpuMap,
    MapType.XSKMAP: XskMap,
}


def register() -> None:
    """Make :func:`pybpf.maps.create_map` build these types (idempotent; done on import)."""
    for map_type, cls in REDIRECT_MAP_CLASSES.items():
        MAP_CLASSES.setdefault(map_type, cls)


register()

__all__ = [
    "BPF_F_BROADCAST",
    "BPF_F_EXCLUDE_INGRESS",
    "REDIRECT_MAP_CLASSES",
    "CpuMap",
    "DevMap",
    "DevMapHash",
    "RedirectMap",
    "RedirectTarget",
    "XskMap",
    "register",
]
