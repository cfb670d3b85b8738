"""Linux helpers that mean something outside the kernel, with their ids, names and semantics.

Each helper takes the running program's environment ``env`` (``env.memory`` for pointer
arguments, ``env.pc`` for errors, ``env.call_function`` for callbacks) and up to five u64
arguments, and returns what the kernel returns: a value, or a negative errno.  A pointer argument
outside the program's memory raises the same memory error a load or store would, except where the
kernel defines a soft failure (``probe_read*`` return ``-EFAULT`` and zero their destination).

Map, ring-buffer and tail-call helpers live in :mod:`pybpf.helpers.maps`; packet helpers with the
program types.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import sys
import threading
import time
from typing import Any

from pybpf.errors import MemoryAccessError
from pybpf.helpers.printk import FormatError, count_args, format_kernel
from pybpf.helpers.registry import HelperRegistry

M64 = (1 << 64) - 1
BPF_MAX_LOOPS = 1 << 23
MAX_SNPRINTF_VARARGS = 12
MAX_PRINTK_STRING = 512
HZ = 1000  # jiffies64 counts milliseconds of CLOCK_MONOTONIC

trace_log = logging.getLogger("pybpf.trace")
"""Where ``bpf_trace_printk`` / ``bpf_printk`` output goes (the kernel's trace_pipe)."""


def _s32(value: int) -> int:
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value & 0x8000_0000 else value


def _cstring(env: Any, address: int, limit: int = MAX_PRINTK_STRING) -> bytes | None:
    try:
        return bytes(env.memory.read_cstring(address, limit, env.pc))
    except MemoryAccessError:
        return None


# -- time and identity --------------------------------------------------------------------------
def ktime_get_ns(env: Any, *_: int) -> int:
    """CLOCK_MONOTONIC in ns (5)."""
    return time.monotonic_ns()


def ktime_get_boot_ns(env: Any, *_: int) -> int:
    """CLOCK_BOOTTIME in ns, counting suspend (125)."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def ktime_get_coarse_ns(env: Any, *_: int) -> int:
    """CLOCK_MONOTONIC_COARSE in ns (160)."""
    return time.clock_gettime_ns(getattr(time, "CLOCK_MONOTONIC_COARSE", time.CLOCK_MONOTONIC))


def ktime_get_tai_ns(env: Any, *_: int) -> int:
    """CLOCK_TAI in ns (208)."""
    return time.clock_gettime_ns(getattr(time, "CLOCK_TAI", time.CLOCK_REALTIME))


def jiffies64(env: Any, *_: int) -> int:
    """Jiffies at HZ=1000 from CLOCK_MONOTONIC (118)."""
    return time.monotonic_ns() // (1_000_000_000 // HZ)


def get_prandom_u32(env: Any, *_: int) -> int:
    """A non-cryptographic pseudo-random u32 (7)."""
    return random.getrandbits(32)


def get_smp_processor_id(env: Any, *_: int) -> int:
    """The virtual CPU the program runs on (8); per-CPU maps use the same number."""
    from pybpf.maps.percpu import current_cpu

    return current_cpu()


def get_numa_node_id(env: Any, *_: int) -> int:
    """Always node 0 (42)."""
    return 0


def get_current_pid_tgid(env: Any, *_: int) -> int:
    """tgid << 32 | pid of the host process and thread (14)."""
    return (os.getpid() << 32) | threading.get_native_id()


def get_current_uid_gid(env: Any, *_: int) -> int:
    """gid << 32 | uid of the host process (15)."""
    return (os.getgid() << 32) | os.getuid()


def _comm() -> bytes:
    try:
        with open("/proc/self/comm", "rb") as f:
            return f.read().strip()[:15]
    except OSError:
        return os.path.basename(sys.argv[0] or "python").encode()[:15]


def get_current_comm(env: Any, buf: int, size: int, *_: int) -> int:
    """Copy the host process name, NUL-padded, into ``buf[size]`` (16)."""
    size &= 0xFFFF_FFFF
    if size == 0:
        return -errno.EINVAL
    name = _comm()[: size - 1]
    env.memory.write(buf, name + bytes(size - len(name)), env.pc)
    return 0


# -- printing -----------------------------------------------------------------------------------
def _emit_trace(env: Any, line: bytes) -> int:
    text = line.decode("latin-1")
    trace_log.info("%s", text.rstrip("\n"))
    sink = getattr(env, "trace_sink", None)
    if sink is not None:
        sink(text)
    return len(line)


def _read_format(env: Any, fmt: int, fmt_size: int) -> bytes | None:
    """The format string, which must be NUL-terminated within fmt_size (kernel rule)."""
    fmt_size &= 0xFFFF_FFFF
    if fmt_size == 0:
        return None
    raw = env.memory.read(fmt, fmt_size, env.pc)
    if raw[-1] != 0:
        return None
    return bytes(raw[: raw.index(b"\0")])


def trace_printk(env: Any, fmt: int, fmt_size: int, a1: int, a2: int, a3: int) -> int:
    """Format with up to three arguments into the trace log; returns bytes written (6)."""
    text = _read_format(env, fmt, fmt_size)
    if text is None or count_args(text) > 3:
        return -errno.EINVAL
    try:
        line = format_kernel(text, [a1, a2, a3], lambda p: _cstring(env, p))
    except FormatError:
        return -errno.EINVAL
    return _emit_trace(env, line)


def _u64_array(env: Any, data: int, data_len: int) -> list[int] | None:
    data_len &= 0xFFFF_FFFF
    if data_len % 8 or data_len // 8 > MAX_SNPRINTF_VARARGS or (data_len and not data):
        return None
    raw = env.memory.read(data, data_len, env.pc) if data_len else b""
    return [int.from_bytes(raw[i : i + 8], "little") for i in range(0, len(raw), 8)]


def trace_vprintk(env: Any, fmt: int, fmt_size: int, data: int, data_len: int, *_: int) -> int:
    """``trace_printk`` with an array of up to 12 u64 arguments (177)."""
    text = _read_format(env, fmt, fmt_size)
    args = _u64_array(env, data, data_len)
    if text is None or args is None or count_args(text) > len(args):
        return -errno.EINVAL
    try:
        line = format_kernel(text, args, lambda p: _cstring(env, p))
    except FormatError:
        return -errno.EINVAL
    return _emit_trace(env, line)


def snprintf(env: Any, out: int, size: int, fmt: int, data: int, data_len: int) -> int:
    """Format into ``out[size]``; returns the full length including the NUL (165)."""
    size &= 0xFFFF_FFFF
    text = _cstring(env, fmt, 1 << 16)
    args = _u64_array(env, data, data_len)
    if text is None or args is None or count_args(text) > len(args):
        return -errno.EINVAL
    try:
        result = format_kernel(text, args, lambda p: _cstring(env, p))
    except FormatError:
        return -errno.EINVAL
    if size:
        shown = result[: size - 1] + b"\0"
        env.memory.write(out, shown, env.pc)
    return len(result) + 1


def strncmp(env: Any, s1: int, s1_size: int, s2: int, *_: int) -> int:
    """Compare at most ``s1_size`` bytes of s1 with the NUL-terminated s2: -1, 0 or 1 (182)."""
    s1_size &= 0xFFFF_FFFF
    a = env.memory.read(s1, s1_size, env.pc) if s1_size else b""
    b = env.memory.read_cstring(s2, max(s1_size, 1) + 1, env.pc)
    for i in range(s1_size):
        ca = a[i]
        cb = b[i] if i < len(b) else 0
        if ca != cb:
            return -1 if ca < cb else 1
        if ca == 0:
            return 0
    return 0


def _strto(env: Any, buf: int, buf_len: int, flags: int, res: int, signed: bool) -> int:
    buf_len &= 0xFFFF_FFFF
    base = flags & 0x1F
    if flags & ~0x1F or base not in (0, 8, 10, 16) or buf_len == 0:
        return -errno.EINVAL
    raw = env.memory.read(buf, buf_len, env.pc)
    text = raw.split(b"\0", 1)[0].decode("latin-1")
    i = 0
    while i < len(text) and text[i].isspace():
        i += 1
    sign = 1
    if i < len(text) and text[i] in "+-":
        if text[i] == "-":
            sign = -1
        i += 1
    start = i
    if base in (0, 16) and text[i : i + 2].lower() == "0x":
        base, i = 16, i + 2
    elif base == 0 and text[i : i + 1] == "0":
        base = 8
    elif base == 0:
        base = 10
    digits_start = i
    while i < len(text) and text[i].lower() in "0123456789abcdef"[:base]:
        i += 1
    if i == digits_start:
        if base == 8 and digits_start > start:  # a lone "0"
            value = 0
        else:
            return -errno.EINVAL
    else:
        value = int(text[digits_start:i], base)
    if not signed and sign < 0:
        return -errno.EINVAL
    value *= sign
    if (signed and not -(1 << 63) <= value < (1 << 63)) or (not signed and value >= 1 << 64):
        return -errno.ERANGE
    env.memory.write(res, (value & M64).to_bytes(8, "little"), env.pc)
    return i


def strtol(env: Any, buf: int, buf_len: int, flags: int, res: int, *_: int) -> int:
    """Parse a signed integer; returns the characters consumed (105)."""
    return _strto(env, buf, buf_len, flags, res, True)


def strtoul(env: Any, buf: int, buf_len: int, flags: int, res: int, *_: int) -> int:
    """Parse an unsigned integer; returns the characters consumed (106)."""
    return _strto(env, buf, buf_len, flags, res, False)


# -- memory -------------------------------------------------------------------------------------
def _probe_read(env: Any, dst: int, size: int, src: int) -> int:
    size &= 0xFFFF_FFFF
    if size == 0:
        return 0
    try:
        data = env.memory.read(src, size, env.pc)
    except MemoryAccessError:
        env.memory.write(dst, bytes(size), env.pc)
        return -errno.EFAULT
    env.memory.write(dst, data, env.pc)
    return 0


def probe_read(env: Any, dst: int, size: int, src: int, *_: int) -> int:
    """Copy ``size`` bytes from any address; -EFAULT (dst zeroed) when it is not mapped (4, 112, 113)."""
    return _probe_read(env, dst, size, src)


def probe_read_str(env: Any, dst: int, size: int, src: int, *_: int) -> int:
    """Copy a NUL-terminated string; returns its length with the NUL, or -EFAULT (45, 114, 115)."""
    size &= 0xFFFF_FFFF
    if size == 0:
        return 0
    raw = _cstring(env, src, size - 1)
    if raw is None:
        env.memory.write(dst, bytes(size), env.pc)
        return -errno.EFAULT
    env.memory.write(dst, raw + b"\0", env.pc)
    return len(raw) + 1


def csum_diff(env: Any, from_: int, from_size: int, to: int, to_size: int, seed: int) -> int:
    """One's-complement sum of ``~from`` and ``to`` (u32 words) plus seed, folded to 32 bits (28)."""
    from_size &= 0xFFFF_FFFF
    to_size &= 0xFFFF_FFFF
    if from_size % 4 or to_size % 4 or from_size + to_size > 512:  # the kernel's 512-byte scratch
        return -errno.EINVAL
    total = seed & 0xFFFF_FFFF
    if from_size:
        raw = env.memory.read(from_, from_size, env.pc)
        total += sum((~int.from_bytes(raw[i : i + 4], "little")) & 0xFFFF_FFFF for i in range(0, from_size, 4))
    if to_size:
        raw = env.memory.read(to, to_size, env.pc)
        total += sum(int.from_bytes(raw[i : i + 4], "little") for i in range(0, to_size, 4))
    while total >> 32:
        total = (total & 0xFFFF_FFFF) + (total >> 32)
    return total


# -- callbacks and locks ------------------------------------------------------------------------
def loop(env: Any, nr_loops: int, callback: int, ctx: int, flags: int, *_: int) -> int:
    """Call ``callback(i, ctx)`` for i < nr_loops until it returns non-zero (181)."""
    nr_loops &= 0xFFFF_FFFF
    if flags:
        return -errno.EINVAL
    if nr_loops > BPF_MAX_LOOPS:
        return -errno.E2BIG
    for i in range(nr_loops):
        if env.call_function(callback, i, ctx) & 0xFFFF_FFFF_FFFF_FFFF:
            return i + 1
    return nr_loops


_locks_guard = threading.Lock()
_locks: dict[int, threading.Lock] = {}


def _lock_for(address: int) -> threading.Lock:
    with _locks_guard:
        lock = _locks.get(address)
        if lock is None:
            lock = _locks[address] = threading.Lock()
        return lock


def spin_lock(env: Any, lock: int, *_: int) -> int:
    """Take the ``bpf_spin_lock`` at ``lock``: a real lock shared by every program and thread (93)."""
    env.memory.load(lock, 4, env.pc)  # the lock word must be readable program memory
    _lock_for(lock).acquire()
    env.memory.store(lock, 4, 1, env.pc)
    return 0


def spin_unlock(env: Any, lock: int, *_: int) -> int:
    """Release the ``bpf_spin_lock`` at ``lock`` (94)."""
    env.memory.store(lock, 4, 0, env.pc)
    held = _lock_for(lock)
    if held.locked():
        held.release()
    return 0


KERNEL_HELPERS: tuple[tuple[int, str, Any], ...] = (
    (4, "probe_read", probe_read),
    (5, "ktime_get_ns", ktime_get_ns),
    (6, "trace_printk", trace_printk),
    (7, "get_prandom_u32", get_prandom_u32),
    (8, "get_smp_processor_id", get_smp_processor_id),
    (14, "get_current_pid_tgid", get_current_pid_tgid),
    (15, "get_current_uid_gid", get_current_uid_gid),
    (16, "get_current_comm", get_current_comm),
    (28, "csum_diff", csum_diff),
    (42, "get_numa_node_id", get_numa_node_id),
    (45, "probe_read_str", probe_read_str),
    (93, "spin_lock", spin_lock),
    (94, "spin_unlock", spin_unlock),
    (105, "strtol", strtol),
    (106, "strtoul", strtoul),
    (112, "probe_read_user", probe_read),
    (113, "probe_read_kernel", probe_read),
    (114, "probe_read_user_str", probe_read_str),
    (115, "probe_read_kernel_str", probe_read_str),
    (118, "jiffies64", jiffies64),
    (125, "ktime_get_boot_ns", ktime_get_boot_ns),
    (160, "ktime_get_coarse_ns", ktime_get_coarse_ns),
    (165, "snprintf", snprintf),
    (177, "trace_vprintk", trace_vprintk),
    (181, "loop", loop),
    (182, "strncmp", strncmp),
    (208, "ktime_get_tai_ns", ktime_get_tai_ns),
)


def register_kernel_helpers(registry: HelperRegistry) -> HelperRegistry:
    """Add every helper of this module under its Linux id and name."""
    from pybpf.helpers.registry import Helper

    for hid, name, func in KERNEL_HELPERS:
        registry.add(Helper(hid, name, func, (func.__doc__ or "").strip()))
    return registry
