"""The Linux kernel as an oracle: load a pybpf object's programs with bpf(2) and test-run them.

Only what the oracle tests need: ``BPF_MAP_CREATE`` for every map of a loaded
:class:`pybpf.object.BpfObject` (with the same contents), ``BPF_PROG_LOAD`` of a program with its
map references (pybpf's ``lddw`` src 5/6 map indexes) patched into ``BPF_PSEUDO_MAP_FD`` /
``BPF_PSEUDO_MAP_VALUE`` with the map fds, and ``BPF_PROG_TEST_RUN``.  Everything goes through
``syscall(__NR_bpf)`` with ctypes; :func:`unavailable` says why the kernel cannot be used here
(not Linux x86-64, no permission, ...), for ``pytest.skip``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from dataclasses import dataclass, field
from typing import Any

from pybpf.isa.instruction import Instruction

NR_BPF = {"x86_64": 321, "aarch64": 280}
BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_GET_NEXT_KEY = 0, 1, 2, 4
BPF_PROG_LOAD, BPF_PROG_TEST_RUN = 5, 10
BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE = 1, 2
ATTR_SIZE = 144

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class KernelError(OSError):
    """A bpf(2) call failed; ``log`` holds the verifier log for program loads."""

    def __init__(self, err: int, what: str, log: str = "") -> None:
        super().__init__(err, f"{what}: {os.strerror(err)}" + (f"\n{log}" if log else ""))
        self.log = log


def bpf(cmd: int, attr: bytes | bytearray) -> int:
    nr = NR_BPF.get(platform.machine())
    if nr is None:
        raise KernelError(errno.ENOSYS, f"bpf() syscall number unknown on {platform.machine()}")
    buf = ctypes.create_string_buffer(bytes(attr).ljust(ATTR_SIZE, b"\0"), ATTR_SIZE)
    rc = _libc.syscall(nr, cmd, buf, ATTR_SIZE)
    if rc < 0:
        raise KernelError(ctypes.get_errno(), f"bpf(cmd {cmd})")
    return int(rc)


def unavailable() -> str | None:
    """None when bpf(2) can create maps and load and test-run an XDP program here, else why not."""
    if platform.system() != "Linux" or platform.machine() not in NR_BPF:
        return f"bpf(2) is only used on Linux x86-64/arm64 (this is {platform.system()} {platform.machine()})"
    try:
        fd = map_create(2, 4, 8, 1)
        os.close(fd)
        insns = [Instruction(0xB7, 0, 0, 0, 2), Instruction(0x95)]
        prog = prog_load(6, insns)
        try:
            result = test_run(prog, bytes(14))
        finally:
            os.close(prog)
        if result.retval != 2:
            return f"BPF_PROG_TEST_RUN returned {result.retval} for a program returning 2"
    except OSError as exc:
        return f"bpf(2) is not usable here: {exc.strerror or exc} (errno {exc.errno})"
    return None


def map_create(map_type: int, key_size: int, value_size: int, max_entries: int, flags: int = 0) -> int:
    return bpf(BPF_MAP_CREATE, struct.pack("<IIIII", map_type, key_size, value_size, max_entries, flags))


def map_update(fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
    k = ctypes.create_string_buffer(key, max(len(key), 1))
    v = ctypes.create_string_buffer(value, max(len(value), 1))
    bpf(BPF_MAP_UPDATE_ELEM, struct.pack("<IIQQQ", fd, 0, ctypes.addressof(k), ctypes.addressof(v), flags))


def map_lookup(fd: int, key: bytes, value_size: int) -> bytes | None:
    k = ctypes.create_string_buffer(key, max(len(key), 1))
    v = ctypes.create_string_buffer(value_size)
    try:
        bpf(BPF_MAP_LOOKUP_ELEM, struct.pack("<IIQQQ", fd, 0, ctypes.addressof(k), ctypes.addressof(v), 0))
    except KernelError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    return v.raw


def map_keys(fd: int, key_size: int) -> list[bytes]:
    keys: list[bytes] = []
    nxt = ctypes.create_string_buffer(key_size)
    prev: Any = None
    while True:
        cur = ctypes.addressof(prev) if prev is not None else 0
        try:
            bpf(BPF_MAP_GET_NEXT_KEY, struct.pack("<IIQQ", fd, 0, cur, ctypes.addressof(nxt)))
        except KernelError as exc:
            if exc.errno == errno.ENOENT:
                return keys
            raise
        keys.append(nxt.raw)
        prev = ctypes.create_string_buffer(nxt.raw, key_size)


def prog_load(prog_type: int, insns: list[Instruction], license: bytes = b"GPL") -> int:
    code = ctypes.create_string_buffer(b"".join(i.encode() for i in insns))
    lic = ctypes.create_string_buffer(license)
    log = ctypes.create_string_buffer(1 << 20)
    attr = struct.pack(
        "<IIQQIIQI", prog_type, len(insns), ctypes.addressof(code), ctypes.addressof(lic), 1, len(log),
        ctypes.addressof(log), 0,
    )
    try:
        return bpf(BPF_PROG_LOAD, attr)
    except KernelError as exc:
        raise KernelError(exc.errno or 0, "BPF_PROG_LOAD", log.value.decode(errors="replace")) from None


@dataclass
class KernelRun:
    retval: int
    data_out: bytes
    data_size_out: int
    ctx_out: bytes | None
    duration: int
    errno: int = 0


def test_run(
    prog_fd: int,
    data: bytes,
    ctx_in: bytes | None = None,
    *,
    repeat: int = 1,
    data_size_out: int = 0,
    out_capacity: int = 65536,
    ctx_out_size: int = 0,
) -> KernelRun:
    """BPF_PROG_TEST_RUN; ``errno`` is set (not raised) for ENOSPC, which still reports results."""
    din = ctypes.create_string_buffer(data, max(len(data), 1))
    dout = ctypes.create_string_buffer(out_capacity)
    cin = ctypes.create_string_buffer(ctx_in, len(ctx_in)) if ctx_in else None
    cout = ctypes.create_string_buffer(ctx_out_size) if ctx_out_size else None
    attr = bytearray(struct.pack(
        "<IIIIQQIIIIQQIII",
        prog_fd, 0, len(data), data_size_out, ctypes.addressof(din), ctypes.addressof(dout), repeat, 0,
        len(ctx_in) if ctx_in else 0, ctx_out_size, ctypes.addressof(cin) if cin is not None else 0,
        ctypes.addressof(cout) if cout is not None else 0, 0, 0, 0,
    ))
    buf = ctypes.create_string_buffer(bytes(attr).ljust(ATTR_SIZE, b"\0"), ATTR_SIZE)
    nr = NR_BPF[platform.machine()]
    rc = _libc.syscall(nr, BPF_PROG_TEST_RUN, buf, ATTR_SIZE)
    err = ctypes.get_errno() if rc < 0 else 0
    if rc < 0 and err != errno.ENOSPC:
        raise KernelError(err, "BPF_PROG_TEST_RUN")
    raw = buf.raw
    retval, size_out = struct.unpack_from("<I", raw, 4)[0], struct.unpack_from("<I", raw, 12)[0]
    duration = struct.unpack_from("<I", raw, 36)[0]
    shown = min(size_out, data_size_out or size_out, out_capacity)
    # On ENOSPC for the data the kernel returns before writing the context back.
    ctx_out = cout.raw[: struct.unpack_from("<I", raw, 44)[0]] if cout is not None and not err else None
    return KernelRun(retval, dout.raw[:shown], size_out, ctx_out, duration, err)


@dataclass
class KernelObject:
    """A pybpf-loaded object's maps mirrored into the kernel, and its programs loaded there."""

    obj: Any
    map_fds: list[int] = field(default_factory=list)
    prog_fds: dict[str, int] = field(default_factory=dict)

    @classmethod
    def mirror(cls, obj: Any) -> KernelObject:
        """Create every map of ``obj`` in the kernel with the same entries."""
        mirrored = cls(obj)
        for bpf_map in obj.maps.values():
            spec = bpf_map.spec
            fd = map_create(spec.map_type, spec.key_size, spec.value_size, spec.max_entries, spec.map_flags)
            mirrored.map_fds.append(fd)
            for key, value in bpf_map.items():
                map_update(fd, bytes(key), bytes(value))
        return mirrored

    def load(self, name: str, prog_type: int) -> int:
        program = self.obj.program(name)
        fd = prog_load(prog_type, self.patched(program.definition.insns))
        self.prog_fds[name] = fd
        return fd

    def patched(self, insns: list[Instruction]) -> list[Instruction]:
        """pybpf's map-index ``lddw`` (src 5 / 6) -> the kernel's map-fd forms (src 1 / 2)."""
        out = list(insns)
        for i, insn in enumerate(out):
            if insn.opcode == 0x18 and insn.src in (5, 6):
                fd = self.map_fds[insn.imm]
                src = BPF_PSEUDO_MAP_FD if insn.src == 5 else BPF_PSEUDO_MAP_VALUE
                out[i] = Instruction(insn.opcode, insn.dst, src, insn.off, fd)
        return out

    def map_items(self, name: str) -> dict[bytes, bytes]:
        index = list(self.obj.maps).index(name)
        spec = self.obj.maps[name].spec
        fd = self.map_fds[index]
        out = {}
        for key in map_keys(fd, spec.key_size):
            value = map_lookup(fd, key, spec.value_size)
            if value is not None:
                out[key] = value
        return out

    def close(self) -> None:
        for fd in [*self.map_fds, *self.prog_fds.values()]:
            os.close(fd)
        self.map_fds.clear()
        self.prog_fds.clear()
