"""The machine's own kernel verifier, through the bpf(2) system call (ctypes, no libbpf).

Used by the differential test: a corpus program is loaded with ``BPF_PROG_LOAD`` and the kernel's
verdict compared with pybpf's.  Maps the program declares are created with ``BPF_MAP_CREATE``
(read-only data maps filled and frozen) and the program's ``map_idx`` references rewritten into
``map_fd`` references, the way libbpf does before loading.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from collections.abc import Sequence

from pybpf.isa.instruction import Instruction, encode_program
from pybpf.verifier.mapinfo import MapInfo

SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine(), -1)
BPF_MAP_CREATE, BPF_MAP_UPDATE_ELEM, BPF_PROG_LOAD, BPF_MAP_FREEZE = 0, 2, 5, 22
BPF_F_SLEEPABLE = 1 << 4
BPF_F_RDONLY_PROG = 0x80
PROG_TYPES = {
    "socket_filter": 1,
    "kprobe": 2,
    "sched_cls": 3,
    "sched_act": 4,
    "tracepoint": 5,
    "xdp": 6,
    "cgroup_skb": 8,
    "raw_tracepoint": 17,
    "syscall": 31,
}
_ATTR_SIZE = 128

_libc: ctypes.CDLL | None = None


def _sys_bpf(cmd: int, attr: bytes) -> tuple[int, int]:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    buf = ctypes.create_string_buffer(attr.ljust(_ATTR_SIZE, b"\0"), _ATTR_SIZE)
    ret = _libc.syscall(SYS_BPF, cmd, buf, _ATTR_SIZE)
    return int(ret), ctypes.get_errno()


def load(insns: Sequence[Instruction], prog_type: str, *, log_size: int = 1 << 20) -> tuple[int, str]:
    """Load a program; returns (fd or -errno, verifier log).  The caller closes the fd."""
    code = encode_program(insns)
    cbuf = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(log_size)
    flags = BPF_F_SLEEPABLE if prog_type == "syscall" else 0
    attr = struct.pack(
        "<IIQQIIQII16sII",
        PROG_TYPES[prog_type],
        len(code) // 8,
        ctypes.addressof(cbuf),
        ctypes.addressof(lic),
        1,
        log_size,
        ctypes.addressof(log),
        0,
        flags,
        b"pybpf_diff",
        0,
        0,
    )
    fd, err = _sys_bpf(BPF_PROG_LOAD, attr)
    text = log.value.decode(errors="replace")
    return (fd if fd >= 0 else -err), text


def unavailable_reason() -> str | None:
    """Why the kernel cannot be used (None if it can): loads ``r0 = 0; exit`` as a socket filter."""
    if SYS_BPF < 0:
        return f"bpf(2) syscall number unknown on {platform.machine()}"
    if os.environ.get("PYBPF_NO_KERNEL"):
        return "PYBPF_NO_KERNEL is set"
    try:
        fd, _ = load([Instruction(0xB7, 0, 0, 0, 0), Instruction(0x95)], "socket_filter", log_size=4096)
    except OSError as exc:  # pragma: no cover - depends on the machine
        return f"bpf(2) unusable: {exc}"
    if fd < 0:
        return f"bpf(BPF_PROG_LOAD) of a trivial socket filter failed: {os.strerror(-fd)}"
    os.close(fd)
    return None


def create_map(m: MapInfo, inner_fd: int = 0) -> int:
    flags = BPF_F_RDONLY_PROG if m.read_only else 0
    if m.map_type == 11:  # LPM trie needs BPF_F_NO_PREALLOC
        flags |= 1
    attr = struct.pack("<IIIIII", m.map_type, m.key_size, m.value_size, m.max_entries, flags, inner_fd)
    fd, err = _sys_bpf(BPF_MAP_CREATE, attr)
    if fd < 0:
        raise OSError(err, f"BPF_MAP_CREATE {m.name}: {os.strerror(err)}")
    if m.read_only:
        key = ctypes.create_string_buffer(bytes(4), 4)
        value = ctypes.create_string_buffer((m.initial or b"").ljust(m.value_size, b"\0"), max(m.value_size, 1))
        upd = struct.pack("<IIQQQ", fd, 0, ctypes.addressof(key), ctypes.addressof(value), 0)
        ret, err = _sys_bpf(BPF_MAP_UPDATE_ELEM, upd)
        if ret < 0:
            os.close(fd)
            raise OSError(err, f"BPF_MAP_UPDATE_ELEM {m.name}: {os.strerror(err)}")
        ret, err = _sys_bpf(BPF_MAP_FREEZE, struct.pack("<I", fd))
        if ret < 0:
            os.close(fd)
            raise OSError(err, f"BPF_MAP_FREEZE {m.name}: {os.strerror(err)}")
    return fd


def load_with_maps(insns: Sequence[Instruction], prog_type: str, maps: Sequence[MapInfo]) -> tuple[int, str]:
    """Create the maps, rewrite map_idx references to fds, load; maps are closed afterwards."""
    fds: list[int] = []
    try:
        for m in maps:
            inner_fd = 0
            if m.inner is not None:
                inner_fd = create_map(m.inner)
                fds.append(inner_fd)
            fds.append(create_map(m, inner_fd))
        by_index = {}
        k = 0
        for m in maps:
            if m.inner is not None:
                k += 1
            by_index[m.index] = fds[k]
            k += 1
        patched = list(insns)
        for i, insn in enumerate(patched):
            if insn.opcode == 0x18 and insn.src in (5, 6) and insn.imm in by_index:
                patched[i] = Instruction(0x18, insn.dst, 1 if insn.src == 5 else 2, insn.off, by_index[insn.imm])
        fd, log = load(patched, prog_type)
        if fd >= 0:
            os.close(fd)
        return fd, log
    finally:
        for fd in fds:
            os.close(fd)
