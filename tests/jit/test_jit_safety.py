"""Faults under the JIT: the same exception type, instruction index and message as the interpreter,
and a process that survives every one of them.

Messages are compared with addresses masked (the two engines' buffers live at different places).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from pybpf.errors import BudgetExceededError, CallDepthError, HelperError, MemoryAccessError, VMError
from pybpf.helpers import Helper, HelperRegistry
from pybpf.isa.assembler import assemble
from pybpf.jit import JitEngine
from pybpf.vm.interpreter import Interpreter, ProgramAbort, TailCall
from pybpf.vm.memory import Region

ENGINES: tuple[type[Interpreter], ...] = (Interpreter, JitEngine)


def normalise(message: str) -> str:
    message = re.sub(r"0x[0-9a-f]+", "ADDR", message)
    return message.split("nearest:")[0]


def outcome(engine: type[Interpreter], text: str, mem: bytes | None = None, **options: Any) -> tuple[Any, ...]:
    vm = engine(assemble(text), **options)
    try:
        return ("ok", vm.run(mem), vm.instructions_executed)
    except VMError as exc:
        return (type(exc), exc.pc, normalise(str(exc)), vm.instructions_executed)
    except BaseException as exc:  # helper exceptions that are not pybpf's pass through unchanged
        return (type(exc), normalise(str(exc)))


def same(text: str, mem: bytes | None = None, *, count: bool = True, **options: Any) -> tuple[Any, ...]:
    """Run under both engines; assert identical outcomes (and instruction counts, unless ``count``
    is false); return the interpreter's."""
    expected, got = (outcome(e, text, mem, **options) for e in ENGINES)
    if not count:  # the count is the last element of every outcome
        expected, got = expected[:-1], got[:-1]
    assert got == expected
    return expected


FAULTS: dict[str, tuple[str, bytes | None, type[Exception], int, str]] = {
    # name: (program, input memory, exception, instruction index, message fragment)
    "read past the input": (
        "r0 = 0\nr0 = *(u32 *)(r1 + 6)\nexit",
        b"12345678",
        MemoryAccessError,
        1,
        "runs 2 bytes past",
    ),
    "write before the input": ("*(u64 *)(r1 - 8) = 1\nr0 = 0\nexit", b"12345678", MemoryAccessError, 0, "write"),
    "store immediate past the input": ("*(u8 *)(r1 + 8) = 1\nr0 = 0\nexit", b"12345678", MemoryAccessError, 0, "write"),
    "null dereference": ("r1 = 0\nr0 = *(u8 *)(r1 + 0)\nexit", None, MemoryAccessError, 1, "null pointer"),
    "wild pointer": ("r1 = 0x1000 ll\n*(u8 *)(r1 + 0) = 1\nr0 = 0\nexit", None, MemoryAccessError, 2, "outside every"),
    "top of the address space": ("r1 = -1 ll\nr0 = *(u64 *)(r1 + 0)\nexit", None, MemoryAccessError, 2, "read"),
    "wrapping access": ("r1 = -4 ll\nr0 = *(u64 *)(r1 + 0)\nexit", None, MemoryAccessError, 2, "read"),
    "below the frame via pointer": (
        "r1 = r10\nr1 += -520\n*(u64 *)(r1 + 0) = 1\nr0 = 0\nexit",
        None,
        MemoryAccessError,
        2,
        "below the live part of stack",
    ),
    "r10 - 520": ("*(u64 *)(r10 - 520) = 1\nr0 = 0\nexit", None, MemoryAccessError, 0, "below the live part"),
    "r10 + 0": ("*(u64 *)(r10 + 0) = 1\nr0 = 0\nexit", None, MemoryAccessError, 0, "8-byte write"),
    "read the code": ("r1 = func(pc+1) ll\nr0 = *(u64 *)(r1 + 0)\nexit", None, MemoryAccessError, 2, "not readable"),
    "write the code": (
        "r1 = func(pc+1) ll\n*(u32 *)(r1 + 0) = 0\nr0 = 0\nexit",
        None,
        MemoryAccessError,
        2,
        "read-only",
    ),
    "atomic on the code": (
        "r1 = func(pc+1) ll\nlock *(u64 *)(r1 + 0) += r2\nexit",
        None,
        MemoryAccessError,
        2,
        "not readable",
    ),
    "atomic past the input": ("r2 = 1\nlock *(u32 *)(r1 + 6) += r2\nexit", b"12345678", MemoryAccessError, 1, "past"),
    "callee frame after return": (
        "call f\nr0 = *(u64 *)(r0 + 0)\nexit\nf:\nr0 = r10\nr0 += -8\nexit",
        None,
        MemoryAccessError,
        1,
        "below the live part of stack",
    ),
    "fault inside a callee": (
        "call f\nexit\nf:\nr0 = *(u8 *)(r10 + 512)\nexit",
        None,
        MemoryAccessError,
        2,
        "1-byte read",
    ),
    "infinite loop": ("r0 = 0\nloop:\nr0 += 1\ngoto loop\nexit", None, BudgetExceededError, 1, "budget of 10000"),
    "runaway recursion": ("f:\ncall f\nexit", None, CallDepthError, 0, "call depth limit of 8"),
    "unknown helper": ("call 12345\nexit", None, HelperError, 0, "unknown helper 12345"),
    "negative helper id": ("call -1\nexit", None, HelperError, 0, "unknown helper -1"),
    "callx through garbage": ("r1 = 0xdeadbeefcafe ll\ncallx r1\nexit", None, HelperError, 2, "neither a function"),
    "callx to an unknown helper": ("r1 = 4242\ncallx r1\nexit", None, HelperError, 1, "unknown helper 4242"),
    "callx inside a function": (
        "r1 = func(pc+3) ll\nr1 += 8\ncallx r1\nexit\nr0 = 1\nr0 = 2\nexit",
        None,
        VMError,
        3,
        "not the entry of a function",
    ),
    "callx misaligned": ("r1 = func(pc+2) ll\nr1 += 3\ncallx r1\nexit\nexit", None, VMError, 3, "not the entry"),
    "kfunc": ("call runtime 7\nexit", None, HelperError, 0, "kfuncs are not available"),
    "unresolved map": ("r1 = map_fd(3) ll\nr0 = 0\nexit", None, VMError, 0, "needs a loader"),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_matches_interpreter(name: str) -> None:
    text, mem, exc_type, pc, fragment = FAULTS[name]
    expected = same(text, mem, budget=10_000)
    assert expected[0] is exc_type and expected[1] == pc
    assert fragment in expected[2]


def test_budget_counts_blocks_like_the_interpreter() -> None:
    text = "r0 = 0\nr1 = 1000\nloop:\nr0 += r1\nr1 -= 1\nif r1 != 0 goto loop\nexit"
    for budget in (1, 2, 3, 5, 6, 2999, 3001, 3002):
        same(text, budget=budget)
    assert same(text, budget=10_000) == ("ok", 500500, 3003)


def test_budget_inside_a_callee_and_a_loop_of_calls() -> None:
    same("r6 = 100\nloop:\ncall f\nr6 -= 1\nif r6 != 0 goto loop\nexit\nf:\nr0 += 1\nexit", budget=250)


def test_eight_frames_are_allowed_nine_are_not() -> None:
    def chain(depth: int) -> str:
        lines = ["r0 = 0", "call f1", "exit"]
        for k in range(1, depth + 1):
            lines += [f"f{k}:", "r0 += 1"] + ([f"call f{k + 1}"] if k < depth else []) + ["exit"]
        return "\n".join(lines)

    assert same(chain(7))[:2] == ("ok", 7)
    assert same(chain(8))[0] is CallDepthError
    assert same(chain(3), max_call_depth=4)[0] == "ok"
    assert same(chain(4), max_call_depth=4)[0] is CallDepthError


def test_locals_restored_and_frames_separate() -> None:
    text = """
        r6 = 6
        r7 = 7
        *(u64 *)(r10 - 8) = 100
        call sub
        r0 = *(u64 *)(r10 - 8)
        r0 += r6
        r0 += r7
        exit
    sub:
        r6 = 60
        r7 = 70
        *(u64 *)(r10 - 8) = 5
        r1 = r10
        r0 = 0
        exit
    """
    assert same(text)[:2] == ("ok", 113)


def test_callee_uses_pointer_into_caller_frame() -> None:
    assert (
        same("r1 = r10\nr1 += -8\ncall sub\nr0 = *(u64 *)(r10 - 8)\nexit\nsub:\n*(u64 *)(r1 + 0) = 42\nexit")[1] == 42
    )


def test_callx_function_address_and_helper_id() -> None:
    assert same("r2 = 5\ncallx r2\nr0 = 2\nexit")[1] == 2
    assert same("r1 = func(pc+4) ll\ncallx r1\nr0 += 1\nexit\nr0 = 41\nexit")[1] == 42


# -- regions and permissions ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "readable", "writable"),
    [
        ("*(u32 *)(r1 + 0) = 1\nr0 = 0\nexit", True, False),
        ("r0 = *(u32 *)(r1 + 0)\nexit", False, True),
        ("r2 = 1\nlock *(u64 *)(r1 + 0) += r2\nr0 = 0\nexit", True, False),
        ("r2 = 1\nr0 = 7\nr0 = cmpxchg_64(r1 + 0, r0, r2)\nexit", True, False),  # no match: no write, no fault
        ("r2 = 1\nr0 = 0\nr0 = cmpxchg_64(r1 + 0, r0, r2)\nexit", True, False),  # match: the write faults
        ("r2 = 1\nr2 = xchg_64(r1 + 0, r2)\nr0 = r2\nexit", True, False),
    ],
)
def test_region_permissions(text: str, readable: bool, writable: bool) -> None:
    results: list[tuple[object, ...]] = []
    for engine in ENGINES:
        vm = engine(assemble(text))
        region = vm.memory.add(Region("ro", bytearray(8), readable=readable, writable=writable))
        try:
            results.append(("ok", vm.run(r1=region.base)))
        except MemoryAccessError as exc:
            results.append((exc.pc, exc.write, normalise(str(exc))))
    assert results[0] == results[1]


def test_unaligned_atomics_and_every_atomic_op() -> None:
    """Every atomic form at misaligned stack addresses (the plain read-modify-write path) and
    aligned ones (real LLVM atomics)."""
    lines = ["lddw %r2, 0x0102030405060708", "stxdw [%r10-16], %r2", "stxdw [%r10-8], %r2", "mov %r0, 0"]
    ops = ["add", "or", "and", "xor", "fetch add", "fetch or", "fetch and", "fetch xor", "xchg", "cmpxchg"]
    for k, op in enumerate(ops):
        for suffix, offset in (("", -13 + k % 4), ("", -16), ("32", -7 + k % 3), ("32", -12)):
            lines += [f"mov %r3, {k * 7 + 1}", f"lock {op}{suffix} [%r10{offset}], %r3", "add %r0, %r3"]
    lines += ["ldxdw %r4, [%r10-16]", "xor %r0, %r4", "ldxdw %r4, [%r10-8]", "add %r0, %r4", "exit"]
    program = assemble("\n".join(lines))
    results = []
    for engine in ENGINES:
        vm = engine(program)
        results.append((vm.run(), vm.instructions_executed))
    assert results[0] == results[1]


# -- helpers ---------------------------------------------------------------------------------------
class Stop(BaseException):
    """Not an Exception: must pass through both engines untouched."""


def registry(**funcs: Callable[..., Any]) -> HelperRegistry:
    reg = HelperRegistry()
    for k, (name, func) in enumerate(funcs.items()):
        reg.add(Helper(1000 + k, name, func))
    return reg


@pytest.mark.parametrize(
    "func",
    [
        lambda env, *a: 1 // 0,  # an ordinary bug: HelperError naming the helper
        lambda env, p, *a: sum(env.memory.read(p, 64, env.pc)),  # a fault in a helper: MemoryAccessError
        lambda env, *a: (_ for _ in ()).throw(Stop()),  # BaseException: passes through
        lambda env, *a: None,  # garbage results: the interpreter's int() errors, unchanged
        lambda env, *a: "abc",
        lambda env, *a: 3.9,
        lambda env, *a: 2**100 + 5,
        lambda env, *a: -2,
        lambda env, *a: (_ for _ in ()).throw(ProgramAbort(0x1234)),
    ],
)
def test_helper_misbehaviour(func: Callable[..., Any]) -> None:
    text = "r6 = 9\nr2 = 8\ncall 1000\nr0 += r6\nexit"
    expected = same(text, b"12345678", helpers=registry(h=func))
    assert expected  # and the process is still here


def test_helper_reads_callee_frame_through_env_memory() -> None:
    reg = registry(peek=lambda env, p, n, *a: int.from_bytes(env.memory.read(p, n, env.pc), "little"))
    text = "call f\nexit\nf:\n*(u64 *)(r10 - 8) = 99\nr1 = r10\nr1 += -8\nr2 = 8\ncall 1000\nexit"
    assert same(text, helpers=reg)[:2] == ("ok", 99)


def test_helper_adding_and_removing_regions_mid_run() -> None:
    made: list[Region] = []

    def add(env: Any, *a: int) -> int:
        region = env.memory.add(Region("fresh", bytearray(b"\x2a" * 16)))
        made.append(region)
        return int(region.base)

    def drop(env: Any, *a: int) -> int:
        env.memory.remove(made[-1])
        return 0

    reg = registry(add=add, drop=drop)
    assert same("call 1000\nr6 = r0\nr0 = *(u8 *)(r6 + 3)\nexit", helpers=reg)[:2] == ("ok", 42)
    fault = same("call 1000\nr6 = r0\nr0 = *(u8 *)(r6 + 3)\ncall 1001\nr0 = *(u8 *)(r6 + 3)\nexit", helpers=reg)
    assert fault[0] is MemoryAccessError and fault[1] == 4


def test_helper_calling_back_into_the_program() -> None:
    """A bpf_loop-like helper: ``env.call_function`` runs a function of the program natively, on a
    new frame, with r1-r5 from the helper and the caller's r6-r9; the caller's registers survive.

    Instruction counts are not compared: the interpreter does not add a callback's instructions
    to the run's count (its nested loop starts from a stale copy), the JIT does.
    """

    def loop(env: Any, n: int, callback: int, ctx: int, *a: int) -> int:
        for i in range(n):
            if env.call_function(callback, i, ctx):
                return i + 1
        return n

    main = [
        "r6 = 5",
        "*(u64 *)(r10 - 8) = r6",
        "r1 = 10",
        "r2 = func(pc+CB) ll",
        "r3 = r10",
        "r3 += -8",
        "call 1000",
        "r0 <<= 32",
        "r2 = *(u64 *)(r10 - 8)",
        "r0 += r2",
        "r0 += r6",
        "exit",
    ]
    callback = [
        "r2 = *(u64 *)(r2 + 0)",  # r2 is ctx, a pointer into the caller's frame
        "r2 += r1",
        "*(u64 *)(r3 + 0) = r2",
        "r6 = 77",  # callee-saved: restored for the caller
        "r0 = 0",
        "if r1 != 6 goto +1",
        "r0 = 1",
        "exit",
    ]
    main[3] = main[3].replace("CB", str(len(main) + 1 - 4))  # lddw at slot 3 takes two: callback at len + 1
    text = "\n".join(main + callback)
    results = [outcome(e, text, helpers=registry(loop=loop))[:2] for e in ENGINES]
    assert results[0] == results[1] == ("ok", (7 << 32) + 5 + sum(range(7)) + 5)


def test_callback_faults_and_depth() -> None:
    def call(env: Any, fn: int, *a: int) -> int:
        return int(env.call_function(fn, 1, 2))

    reg = registry(call=call)
    fault = "r1 = func(pc+4) ll\ncall 1000\nexit\nexit\nr0 = *(u8 *)(r1 + 0)\nexit"
    assert same(fault, helpers=reg, count=False)[:2] == (MemoryAccessError, 5)
    recursive = "r1 = func(pc-1) ll\ncall 1000\nexit"
    assert same(recursive, helpers=reg, count=False)[0] is CallDepthError
    assert same("r1 = 12\ncall 1000\nexit", helpers=reg, count=False)[0] is HelperError
    assert same("r1 = func(pc+3) ll\ncall 1000\nexit\nexit\nr0 = 9\nexit", helpers=reg, count=False)[:2] == ("ok", 0)


def test_callback_reads_memory_the_helper_just_mapped() -> None:
    """Like bpf_for_each_map_elem: the helper creates a region, then calls back with a pointer
    into it; the callee's loads must see the new region."""

    def each(env: Any, callback: int, *a: int) -> int:
        key = env.memory.add(Region("key", bytearray(b"\x07\x00\x00\x00")))
        try:
            return int(env.call_function(callback, key.base))
        finally:
            env.memory.remove(key)

    text = "r1 = func(pc+4) ll\ncall 1000\nexit\nexit\nr0 = *(u32 *)(r1 + 0)\nr0 += 1\nexit"
    assert same(text, helpers=registry(each=each), count=False)[:2] == ("ok", 8)


def test_tail_call_from_a_helper() -> None:
    target = Interpreter(assemble("r0 = r1\nr0 += 1000\nexit"))

    def tail(env: Any, *a: int) -> int:
        raise TailCall(target)

    text = "r1 = 5\ncall 1000\nr0 = 1\nexit"
    for engine in ENGINES:
        vm = engine(assemble(text), helpers=registry(tail=tail))
        assert vm.run() == 1005


# -- packets, relocations, entries -------------------------------------------------------------------
def test_legacy_packet_loads() -> None:
    assert same("r0 = *(u16 *)skb[1]\nexit", b"\x00\x12\x34")[1] == 0x1234
    assert same("r3 = 1\nr0 = *(u8 *)skb[r3 + 1]\nexit", b"\x00\x12\x34")[1] == 0x34
    assert same("r0 = 7\nr0 = *(u32 *)skb[1]\nr0 = 9\nexit", b"\x00\x12\x34")[1] == 0
    assert same("r3 = -1\nr0 = *(u8 *)skb[r3 + 0]\nexit", b"\x00\x12\x34")[1] == 0
    assert same("call f\nr0 = 5\nexit\nf:\nr0 = *(u32 *)skb[0]\nexit", b"\x01")[1] == 0
    assert same("r0 = *(u8 *)skb[0]\nexit")[0] is VMError  # no packet at all


def test_pseudo_resolver_is_called_at_run_time() -> None:
    calls: list[tuple[int, ...]] = []

    def resolve(src: int, imm: int, next_imm: int, pc: int) -> int:
        calls.append((src, imm, next_imm, pc))
        return 0x1000 + imm

    text = "r1 = map_fd(3) ll\nr0 = r1\nexit"
    assert same(text, pseudo_resolver=resolve)[1] == 0x1003
    assert calls == [(1, 3, 0, 0)] * 2


def test_entry_must_be_a_function_for_the_jit() -> None:
    vm = JitEngine(assemble("r0 = 1\ncall f\nexit\nf:\nr0 = 7\nexit"))
    assert vm.execute([0] * 11, entry=3) == 7
    with pytest.raises(VMError):
        vm.execute([0] * 11, entry=1)


def test_safe_accesses_give_the_same_results() -> None:
    text = "r0 = *(u32 *)(r1 + 0)\n*(u32 *)(r1 + 4) = r0\nr2 = *(u32 *)(r1 + 4)\nr0 += r2\nexit"
    for safe in (set(), {0}, {0, 1, 2}):
        vm = JitEngine(assemble(text), safe=safe)
        assert vm.run(b"\x01\x00\x00\x00\x00\x00\x00\x00") == 2


def test_engines_sharing_compiled_code_alternate_and_nest() -> None:
    """Two engines of one program share native code (the memory cache) but not their contexts,
    even when one runs inside the other's helper call."""
    text = "r6 = *(u64 *)(r1 + 0)\ncall 1000\nr0 += r6\nexit"
    inner: list[JitEngine] = []
    reg = registry(nested=lambda env, *a: inner[0].run((7).to_bytes(8, "little")) if inner else 0)
    a = JitEngine(assemble(text), helpers=reg)
    b = JitEngine(assemble(text), helpers=registry(nested=lambda env, *a: 100))
    assert a.runner.native is b.runner.native
    inner.append(b)
    for k in range(3):
        assert a.run((k).to_bytes(8, "little")) == k + 107
        assert b.run((k).to_bytes(8, "little")) == k + 100


def test_runs_are_independent_and_memory_is_visible() -> None:
    text = "r0 = *(u64 *)(r10 - 8)\n*(u64 *)(r10 - 8) = 7\n*(u32 *)(r1 + 4) = 0x01020304\nexit"
    for engine in ENGINES:
        vm = engine(assemble(text))
        region = vm.memory.add(Region("mem", 8))
        assert vm.run(region) == 0 and vm.run(region) == 0
        assert bytes(region.buf) == b"\0\0\0\0\x04\x03\x02\x01"


# -- the process survives ----------------------------------------------------------------------------
def test_process_survives_every_fault_in_a_child() -> None:
    """Run every fault above under the JIT in a fresh process: a crash would kill only the child."""
    script = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, %r)
        from tests.jit.test_jit_safety import FAULTS
        from pybpf.errors import PybpfError
        from pybpf.isa.assembler import assemble
        from pybpf.jit import JitEngine
        for name, (text, mem, *_rest) in FAULTS.items():
            try:
                JitEngine(assemble(text), budget=100_000, cache=False).run(mem)
            except PybpfError:
                pass
        print("survived", len(FAULTS))
        """
    ) % str(__import__("pathlib").Path(__file__).resolve().parents[2])
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["survived", str(len(FAULTS))]


def test_random_programs_never_crash_the_process() -> None:
    """Arbitrary valid programs (random forms, registers, offsets, immediates, wild pointers) under
    the JIT in a child process: every outcome must be a result or a pybpf error."""
    script = textwrap.dedent(
        """
        import random, sys
        sys.path.insert(0, %r)
        from pybpf.errors import BytecodeError, PybpfError
        from pybpf.isa.instruction import Instruction, validate
        from pybpf.isa.opcodes import FORMS, Field
        from pybpf.jit import JitEngine
        rng = random.Random(2024)
        values = [0, 1, -1, 8, -8, 512, -512, 4096, -4096, 0x7FFFFFFF, -0x80000000]
        ran = 0
        while ran < 150:
            n = rng.randrange(2, 20)
            prog = []
            while len(prog) < n:
                f = rng.choice(FORMS)
                fields = {"dst": rng.randrange(11), "src": rng.randrange(11),
                          "off": rng.choice(values[:9] + [rng.randrange(-n, n)]),
                          "imm": rng.choice(values + [rng.randrange(-n, n), 5])}
                for name in fields:
                    if name not in f.uses:
                        fields[name] = 0
                if f.discriminator is not None:
                    fields[f.discriminator.value] = f.value
                prog.append(Instruction(f.opcode, fields["dst"], fields["src"], fields["off"], fields["imm"]))
                if f.is_wide:
                    prog.append(Instruction(0, 0, 0, 0, rng.randrange(-2**31, 2**31) if f.op == "imm64" else 0))
            prog.append(Instruction(0x95))
            try:
                validate(prog)
            except BytecodeError:
                continue
            ran += 1
            try:
                JitEngine(prog, budget=5000, cache=False, opt_level=rng.choice((0, 2))).run(bytes(rng.randrange(64)))
            except PybpfError:
                pass
        print("survived", ran)
        """
    ) % str(__import__("pathlib").Path(__file__).resolve().parents[2])
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["survived", "150"]


def test_atomic_fetch_into_r10_is_refused_at_load() -> None:
    """Linux rejects it and compiled code relies on r10 never changing: every engine refuses it."""
    from pybpf.engine import make_engine
    from pybpf.errors import BytecodeError
    from pybpf.isa.instruction import Instruction

    program = [Instruction(0xDB, 10, 10, -8, 0x01), Instruction(0xB7, 0, 0, 0, 0), Instruction(0x95)]
    for engine in ("interp", "jit", "auto"):
        with pytest.raises(BytecodeError, match="writes the old value into r10"):
            make_engine(program, engine=engine)
