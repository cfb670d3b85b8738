"""PROG_ARRAY: the table ``bpf_tail_call`` jumps through.

Layout after the 256-byte header: ``max_entries`` x u32 program ids (0 = empty slot).  Programs
are Python objects, so the buffer holds ids and :func:`register_program` maps ids to objects
(process-local; PROG_ARRAY maps therefore cannot be pinned).

Host side (the syscall): ``m[i] = prog`` registers the program and stores its id (an int must be
an id from :func:`register_program`, else ``-EBADF`` like a bad fd); update flags must be
``BPF_ANY``; an index past the end is ``-E2BIG``; delete of an empty slot is ``-ENOENT``.
``m[i]`` returns the program object.  Programs cannot look up, update or delete a PROG_ARRAY (the
verifier forbids it): those program-facing calls return NULL / ``-EINVAL``.  The runtime's tail
call uses :meth:`ProgArrayMap.get_program` and :data:`MAX_TAIL_CALLS`.
"""

from __future__ import annotations

import errno
import itertools
from typing import Any

from pybpf.maps.array import array_next_key, validate_array_attrs
from pybpf.maps.base import HEADER_SIZE, U32, MapSpec, Plan, fail_create, hexbytes
from pybpf.maps.codec import Codec
from pybpf.maps.constants import BPF_ANY, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, MAX_TAIL_CALLS, MapType
from pybpf.maps.host import KeyedMap

__all__ = ["MAX_TAIL_CALLS", "ProgArrayMap", "program_by_id", "register_program"]

_programs: dict[int, object] = {}
_ids: dict[int, int] = {}
_counter = itertools.count(1)


def register_program(prog: object) -> int:
    """A stable id (>= 1) for ``prog``; the same object always gets the same id."""
    pid = _ids.get(id(prog))
    if pid is not None and _programs.get(pid) is prog:
        return pid
    pid = next(_counter)
    _programs[pid] = prog
    _ids[id(prog)] = pid
    return pid


def program_by_id(prog_id: int) -> object | None:
    return _programs.get(prog_id)


def validate_fd_array(spec: MapSpec) -> None:
    """``fd_array_map_alloc_check``: value_size 4, no program access flags, then the array rules."""
    if spec.value_size != 4:
        fail_create(spec, -errno.EINVAL, f"value_size must be 4, got {spec.value_size}")
    if spec.map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG):
        fail_create(spec, -errno.EINVAL, "BPF_F_RDONLY_PROG/BPF_F_WRONLY_PROG are not valid here")
    validate_array_attrs(spec)


class ProgArrayMap(KeyedMap):
    """BPF_MAP_TYPE_PROG_ARRAY."""

    map_type = MapType.PROG_ARRAY
    pinnable = False

    @classmethod
    def validate(cls, spec: MapSpec) -> None:
        validate_fd_array(spec)

    @classmethod
    def plan(cls, spec: MapSpec, ncpus: int) -> Plan:
        size = HEADER_SIZE + 4 * spec.max_entries
        return {"size": size, "vis_lo": HEADER_SIZE, "vis_hi": HEADER_SIZE}

    def _slot(self, index: int) -> int:
        return int(U32.unpack_from(self._buf, HEADER_SIZE + 4 * index)[0])

    def get_program(self, index: int) -> object | None:
        """The program in slot ``index`` for a tail call, None when out of range or empty."""
        if not 0 <= index < self.max_entries:
            return None
        pid = self._slot(index)
        return _programs.get(pid) if pid else None

    def get_next_key(self, key: bytes | None) -> tuple[int, bytes]:
        return array_next_key(key, self.max_entries)

    # -- host -------------------------------------------------------------------------------------------
    def _encode_value(self, obj: Any, codec: Codec) -> Any:
        if isinstance(obj, int) and not isinstance(obj, bool):
            return obj
        return register_program(obj)

    def _decode_value(self, raw: Any, codec: Codec) -> Any:
        return raw

    def _host_lookup(self, key: bytes) -> Any | None:
        index = int.from_bytes(key, "little")
        if index >= self.max_entries:
            return None
        return self.get_program(index)

    def _host_update(self, key: bytes, value: Any, flags: int) -> int:
        if flags != BPF_ANY:
            return -errno.EINVAL
        index = int.from_bytes(key, "little")
        if index >= self.max_entries:
            return -errno.E2BIG
        if not isinstance(value, int) or value not in _programs:
            return -errno.EBADF
        with self._wguard:
            U32.pack_into(self._buf, HEADER_SIZE + 4 * index, value)
        return 0

    def _host_delete(self, key: bytes) -> int:
        index = int.from_bytes(key, "little")
        if index >= self.max_entries:
            return -errno.E2BIG
        with self._wguard:
            if not self._slot(index):
                return -errno.ENOENT
            U32.pack_into(self._buf, HEADER_SIZE + 4 * index, 0)
        return 0

    def _host_keys(self) -> list[bytes]:
        return [i.to_bytes(4, "little") for i in range(self.max_entries) if self._slot(i)]

    def _host_len(self) -> int:
        return sum(1 for i in range(self.max_entries) if self._slot(i))

    def _host_clear(self) -> None:
        with self._wguard:
            self._buf[HEADER_SIZE : self._size] = bytes(self._size - HEADER_SIZE)

    def _explain(self, op: str, err: int, flags: int = 0) -> str:
        e = abs(err)
        if op == "update" and e == errno.EINVAL:
            return "PROG_ARRAY updates take BPF_ANY only"
        if e == errno.E2BIG:
            return f"index out of range, max_entries {self.max_entries}"
        if e == errno.EBADF:
            return "not a registered program id"
        return super()._explain(op, err, flags)

    def _dump_rows(self) -> list[tuple[str, str]]:
        return [
            (hexbytes(i.to_bytes(4, "little")), f"prog id {self._slot(i)}: {_programs.get(self._slot(i))!r}")
            for i in range(self.max_entries)
            if self._slot(i)
        ]
