"""Kernel helpers with their Linux semantics, called from real programs in the interpreter."""

from __future__ import annotations

import errno
import logging
import os
import threading

import pytest

from pybpf.helpers.printk import FormatError, format_kernel
from pybpf.isa.assembler import assemble
from pybpf.vm.interpreter import Interpreter
from pybpf.vm.memory import Region

U64 = (1 << 64) - 1


def run(text: str, mem: bytes | bytearray = b"") -> tuple[int, Region]:
    vm = Interpreter(assemble(text))
    region = Region("mem", bytearray(mem))
    vm.memory.add(region)
    return vm.run(region), region


def neg(e: int) -> int:
    return (-e) & U64


def test_trace_printk_goes_to_the_trace_logger(caplog: pytest.LogCaptureFixture) -> None:
    fmt = b"v=%d u=%u s=%s\0"
    mem = fmt + b"str\0"
    text = f"""
        r6 = r1
        r2 = {len(fmt)}
        r3 = -5
        r4 = 7
        r5 = r6
        r5 += {len(fmt)}
        call 6
        exit
    """
    with caplog.at_level(logging.INFO, logger="pybpf.trace"):
        r0, _ = run(text, mem)
    assert [r.getMessage() for r in caplog.records] == ["v=-5 u=7 s=str"]
    assert r0 == len("v=-5 u=7 s=str")


def test_trace_printk_allows_three_arguments_only() -> None:
    fmt = b"%d %d %d %d\0"
    assert run(f"r2 = {len(fmt)}\ncall 6\nexit", fmt)[0] == neg(errno.EINVAL)


def test_trace_printk_rejects_bad_formats() -> None:
    # Not NUL-terminated within fmt_size, and an unsupported conversion.
    assert run("r2 = 3\ncall 6\nexit", b"abc")[0] == neg(errno.EINVAL)
    assert run("r2 = 4\ncall 6\nexit", b"%f\0\0")[0] == neg(errno.EINVAL)


def test_snprintf_and_truncation() -> None:
    fmt = b"%u-%u\0"
    args = (7).to_bytes(8, "little") + (42).to_bytes(8, "little")
    mem = bytearray(fmt + args + bytes(8))
    out = len(fmt) + 16
    text = f"""
        r6 = r1
        r1 = r6
        r1 += {out}
        r2 = 3
        r3 = r6
        r4 = r6
        r4 += {len(fmt)}
        r5 = 16
        call 165
        exit
    """
    r0, region = run(text, mem)
    assert r0 == 5  # "7-42" plus the NUL
    assert bytes(region.buf[out : out + 3]) == b"7-\0"


def test_strncmp() -> None:
    mem = b"abcd\0abcz\0"
    assert run("r2 = 5\nr3 = r1\ncall 182\nexit", mem)[0] == 0
    r0, _ = run("r2 = 4\nr3 = r1\nr3 += 5\ncall 182\nexit", mem)
    assert r0 == neg(1)  # 'd' < 'z'


def test_csum_diff_matches_ones_complement_arithmetic() -> None:
    words = [0x11112222, 0xFFFF0000, 0x12345678]
    mem = b"".join(w.to_bytes(4, "little") for w in words)
    r0, _ = run("r2 = 0\nr3 = r1\nr4 = 12\nr5 = 0\nr1 = 0\ncall 28\nexit", mem)
    total = sum(words)
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    assert r0 == total
    # Diff of a buffer against itself folds to all-ones or zero: ones' complement zero.
    r0, _ = run("r2 = 12\nr3 = r1\nr4 = 12\nr5 = 0\ncall 28\nexit", mem)
    assert r0 in (0, 0xFFFFFFFF)
    assert run("r2 = 3\nr3 = r1\nr4 = 0\nr5 = 0\ncall 28\nexit", mem)[0] == neg(errno.EINVAL)


def test_probe_read_soft_fails_with_efault_and_zeroes() -> None:
    text = """
        r6 = r1
        r1 = r6
        r2 = 4
        r3 = 0x1000 ll
        call 4
        exit
    """
    r0, region = run(text, b"\xff" * 4)
    assert r0 == neg(errno.EFAULT)
    assert bytes(region.buf) == b"\0" * 4


def test_probe_read_str() -> None:
    r0, region = run("r6 = r1\nr1 = r6\nr1 += 8\nr2 = 8\nr3 = r6\ncall 45\nexit", b"hey\0____" + bytes(8))
    assert r0 == 4 and bytes(region.buf[8:12]) == b"hey\0"


def test_bpf_loop_calls_back_and_stops() -> None:
    text = """
        r6 = r1
        *(u64 *)(r6 + 0) = 0
        r1 = 10
        r2 = func(pc+5) ll
        r3 = r6
        r4 = 0
        call 181
        exit
    add:                          # callback(i, ctx): ctx->sum += i; stop when i == 3
        r3 = *(u64 *)(r2 + 0)
        r3 += r1
        *(u64 *)(r2 + 0) = r3
        r0 = 0
        if r1 != 3 goto +1
        r0 = 1
        exit
    """
    r0, region = run(text, bytes(8))
    assert r0 == 4
    assert int.from_bytes(region.buf[:8], "little") == 0 + 1 + 2 + 3


def test_bpf_loop_flags_and_limit() -> None:
    assert run("r1 = 1\nr2 = func(pc+3) ll\nr3 = 0\nr4 = 1\ncall 181\nexit\nr0 = 0\nexit")[0] == neg(errno.EINVAL)
    big = "r1 = 0x800001 ll\nr2 = func(pc+3) ll\nr3 = 0\nr4 = 0\ncall 181\nexit\nr0 = 0\nexit"
    assert run(big)[0] == neg(errno.E2BIG)


def test_loop_callback_must_be_a_function() -> None:
    from pybpf.errors import HelperError

    with pytest.raises(HelperError, match="not a function of this program"):
        run("r1 = 1\nr2 = 12345\nr3 = 0\nr4 = 0\ncall 181\nexit")


def test_identity_helpers() -> None:
    r0, _ = run("call 14\nexit")
    assert r0 >> 32 == os.getpid() and r0 & 0xFFFFFFFF == threading.get_native_id()
    r0, _ = run("call 15\nexit")
    assert r0 == (os.getgid() << 32) | os.getuid()
    r0, region = run("r2 = 16\ncall 16\nexit", bytes(16))
    with open("/proc/self/comm", "rb") as f:
        assert bytes(region.buf).rstrip(b"\0") == f.read().strip()[:15]


def test_strtol_strtoul() -> None:
    mem = b"  -0x1f!\0" + bytes(8)
    r0, region = run("r6 = r1\nr2 = 9\nr3 = 0\nr4 = r6\nr4 += 9\ncall 105\nexit", mem)
    assert r0 == 7 and int.from_bytes(region.buf[9:17], "little", signed=True) == -31
    assert run("r6 = r1\nr2 = 9\nr3 = 0\nr4 = r6\nr4 += 9\ncall 106\nexit", mem)[0] == neg(errno.EINVAL)


def test_clocks_are_monotonic() -> None:
    r0, _ = run("call 5\nr6 = r0\ncall 5\nr0 -= r6\nexit")
    assert r0 < 10**9
    for hid in (118, 125, 160, 208):
        assert run(f"call {hid}\nexit")[0] > 0


def test_format_kernel_directly() -> None:
    assert format_kernel(b"%lld %llx %c %%", [U64, 255, 65], lambda p: None) == b"-1 ff A %"
    assert format_kernel(b"%s", [0], lambda p: None) == b"(null)"
    assert format_kernel(b"%s", [8], lambda p: None) == b"(efault)"
    with pytest.raises(FormatError):
        format_kernel(b"%n", [1], lambda p: None)
