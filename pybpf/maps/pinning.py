"""Pinned maps: a map's whole state in a memory-mapped file that several processes share live.

The pin file *is* the map buffer (the 256-byte header of :mod:`pybpf.maps.base`, then the type's
layout), mapped ``MAP_SHARED`` by every process that opens it, so every write lands in the file's
page cache at once: other processes see it immediately and it survives the writer being killed.
Processes exclude each other with ``flock`` on the file (see the locking notes in
:mod:`pybpf.maps.base`).  A new pin is fully initialised in a temporary file and then published
with ``link()``, so nobody ever opens a half-written map, and two processes racing to create the
same pin end up sharing one.

The pin root (libbpf's ``/sys/fs/bpf``) defaults to ``$PYBPF_PIN_ROOT``, else
``<tempdir>/pybpf-<uid>/bpffs``.  PROG_ARRAY and map-of-maps hold process-local references and
cannot be pinned.
"""

from __future__ import annotations

import errno
import mmap
import os
import secrets
import tempfile
from collections.abc import Callable

from pybpf.maps.base import HEADER_SIZE, LAYOUT_VERSION, BpfMap, MapSpec, Storage, ValueFormat, parse_header
from pybpf.maps.constants import type_name
from pybpf.maps.errors import MapError
from pybpf.maps.factory import map_class, validate_spec

ENV_VAR = "PYBPF_PIN_ROOT"

__all__ = ["default_pin_root", "dump_pinned", "open_pinned", "pin", "unpin"]


def default_pin_root() -> str:
    root = os.environ.get(ENV_VAR)
    if root:
        return root
    return os.path.join(tempfile.gettempdir(), f"pybpf-{os.getuid()}", "bpffs")


def _new_file(path: str, size: int) -> tuple[str, int, mmap.mmap]:
    """A private temporary file of ``size`` zero bytes next to ``path``, mapped shared."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.ftruncate(fd, size)
        mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return tmp, fd, mm


def _publish(tmp: str, path: str) -> bool:
    """Give the finished temporary file its real name; False if ``path`` already exists."""
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def _mismatch(spec: MapSpec, pinned: MapSpec) -> str:
    """libbpf's ``map_is_reuse_compat``: type, sizes, max_entries, flags and map_extra must agree."""
    for field in ("map_type", "key_size", "value_size", "max_entries", "map_flags", "map_extra"):
        want, got = getattr(spec, field), getattr(pinned, field)
        if want != got:
            if field == "map_type":
                want, got = type_name(want), type_name(got)
            return f"{field} {got}, the spec says {want}"
    return ""


def create_or_open_pinned(
    spec: MapSpec, cls: type[BpfMap], ncpus: int, pin_root: str | os.PathLike[str] | None
) -> BpfMap:
    """``LIBBPF_PIN_BY_NAME``: reuse ``pin_root/name`` if it exists and matches, else create it."""
    if not cls.pinnable:
        raise MapError(spec.name, "pin", errno.EINVAL, f"{type_name(spec.map_type)} maps hold process-local references")
    path = os.path.join(os.fspath(pin_root) if pin_root is not None else default_pin_root(), spec.name)
    while True:
        if os.path.exists(path):
            return open_pinned(path, spec)
        size = cls.plan(spec, ncpus)["size"]
        tmp, fd, mm = _new_file(path, size)
        m = cls(spec, Storage(mm, fd, path), ncpus, fresh=True)
        if _publish(tmp, path):
            return m
        m.close()  # another process pinned it first: share theirs


def pin(m: BpfMap, path: str | os.PathLike[str]) -> None:
    """Pin ``m`` at ``path``.

    An unpinned map's state moves into the new file and ``m.region`` is rebuilt at the file's
    address, so pin before handing the region to programs (libbpf pins at load time too).  A map
    that is already pinned gets one more name for the same file.
    """
    path = os.fspath(path)
    if not m.pinnable:
        raise MapError(m.name, "pin", errno.EINVAL, f"{type_name(m.map_type)} maps hold process-local references")
    if m.pinned_path is not None:
        try:
            os.link(m.pinned_path, path)
        except FileExistsError:
            raise MapError(m.name, "pin", errno.EEXIST, f"{path} already exists") from None
        return
    if os.path.exists(path):
        raise MapError(m.name, "pin", errno.EEXIST, f"{path} already exists")
    size = m._size
    tmp, fd, mm = _new_file(path, size)
    with m._tlock:
        mm[:size] = m._buf[:size]
        if not _publish(tmp, path):
            mm.close()
            os.close(fd)
            raise MapError(m.name, "pin", errno.EEXIST, f"{path} already exists")
        m._rebind(Storage(mm, fd, path))


def unpin(path: str | os.PathLike[str]) -> None:
    """Remove a pin (maps that have it open keep working, like unlinking a bpffs file)."""
    os.unlink(path)


def open_pinned(path: str | os.PathLike[str], spec: MapSpec | None = None) -> BpfMap:
    """Open the map pinned at ``path``; with ``spec``, refuse a pin that does not match it."""
    path = os.fspath(path)
    label = spec.name if spec is not None else os.path.basename(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        raise MapError(label, "open pinned", errno.ENOENT, f"no pinned map at {path}") from None
    try:
        info = parse_header(os.pread(fd, HEADER_SIZE, 0))
        if info is None:
            raise MapError(label, "open pinned", errno.EINVAL, f"{path} is not a pybpf pinned map")
        if info.version != LAYOUT_VERSION:
            raise MapError(label, "open pinned", errno.EINVAL, f"{path} has layout version {info.version}")
        cls = map_class(info.spec.map_type)
        if cls is None:
            raise MapError(label, "open pinned", errno.EINVAL, f"{path} holds unknown map type {info.spec.map_type}")
        if spec is not None:
            why = _mismatch(spec, info.spec)
            if why:
                raise MapError(label, "open pinned", errno.EINVAL, f"pinned map at {path} has {why}")
            validate_spec(spec)
        if os.fstat(fd).st_size < info.size or cls.plan(info.spec, info.ncpus)["size"] != info.size:
            raise MapError(label, "open pinned", errno.EINVAL, f"{path} is truncated or its layout is inconsistent")
        mm = mmap.mmap(fd, info.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        use = spec if spec is not None else info.spec
        use.spin_lock_off = info.spec.spin_lock_off
        return cls(use, Storage(mm, fd, path), info.ncpus, fresh=False)
    except BaseException:
        os.close(fd)
        raise


FormatsFor = Callable[[BpfMap], tuple[ValueFormat | None, ValueFormat | None]]


def dump_pinned(path: str | os.PathLike[str], formats: FormatsFor | None = None) -> str:
    """``pybpf map dump PIN_PATH``: the pinned map's type, sizes and entries as a readable table.

    A pin file holds no BTF, so entries are hex unless ``formats`` says, for the opened map, how
    to show its keys and values (``pybpf map dump --btf OBJ.o`` takes them from the object).
    """
    m = open_pinned(path)
    try:
        if formats is not None:
            m.spec.key_btf, m.spec.value_btf = formats(m)
        text = m.dump()
        problems = m.check_consistency()
        if problems:
            text += "inconsistencies:\n" + "".join(f"  {p}\n" for p in problems)
        return text
    finally:
        m.close()
