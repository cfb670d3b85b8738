"""Run-time behaviour of the reference interpreter: faults, limits, frames, helpers."""

from __future__ import annotations

import pytest

from pybpf.errors import BudgetExceededError, CallDepthError, HelperError, MemoryAccessError, VMError
from pybpf.helpers import Helper, HelperRegistry
from pybpf.isa.assembler import assemble
from pybpf.vm.interpreter import Interpreter
from pybpf.vm.memory import Region


def run(text: str, mem: bytes | None = None, **options: object) -> int:
    return Interpreter(assemble(text), **options).run(mem)  # type: ignore[arg-type]


def test_out_of_bounds_read_names_instruction_address_and_region() -> None:
    with pytest.raises(MemoryAccessError) as info:
        run("r0 = 0\nr0 = *(u32 *)(r1 + 6)\nexit", b"12345678")
    err = info.value
    assert err.pc == 1 and err.size == 4 and not err.write
    assert "runs 2 bytes past the end of mem" in str(err)
    assert str(err).startswith("instruction 1: invalid 4-byte read at 0x")


def test_out_of_bounds_write() -> None:
    with pytest.raises(MemoryAccessError) as info:
        run("*(u64 *)(r1 - 8) = 1\nr0 = 0\nexit", b"12345678")
    assert info.value.write and info.value.pc == 0


def test_null_dereference() -> None:
    with pytest.raises(MemoryAccessError) as info:
        run("r1 = 0\nr0 = *(u8 *)(r1 + 0)\nexit")
    assert "null pointer" in str(info.value)


def test_wild_pointer_reports_nearest_regions() -> None:
    with pytest.raises(MemoryAccessError) as info:
        run("r1 = 0x1000 ll\n*(u8 *)(r1 + 0) = 1\nr0 = 0\nexit")
    assert "outside every region" in str(info.value)


def test_stack_below_frame_is_rejected() -> None:
    with pytest.raises(MemoryAccessError) as info:
        run("r1 = r10\nr1 += -520\n*(u64 *)(r1 + 0) = 1\nr0 = 0\nexit")
    assert "below the live part of stack" in str(info.value)


def test_r10_relative_access_outside_frame_is_checked() -> None:
    with pytest.raises(MemoryAccessError):
        run("*(u64 *)(r10 - 520) = 1\nr0 = 0\nexit")
    with pytest.raises(MemoryAccessError):
        run("*(u64 *)(r10 + 0) = 1\nr0 = 0\nexit")


def test_code_region_is_not_writable_or_readable() -> None:
    with pytest.raises(MemoryAccessError) as info:
        run("r1 = func(pc+1) ll\nr0 = *(u64 *)(r1 + 0)\nexit")
    assert "not readable" in str(info.value)


def test_budget_stops_infinite_loop() -> None:
    with pytest.raises(BudgetExceededError) as info:
        run("r0 = 0\nloop:\nr0 += 1\ngoto loop\nexit", budget=10_000)
    assert info.value.budget == 10_000


def test_call_depth_limit() -> None:
    with pytest.raises(CallDepthError) as info:
        run("f:\ncall f\nexit")
    assert "call depth limit of 8" in str(info.value)


def chain(depth: int) -> str:
    """main calls f1, f1 calls f2, ... f(depth) returns: depth + 1 frames at the deepest point."""
    lines = ["r0 = 0", "call f1", "exit"]
    for k in range(1, depth + 1):
        lines += [f"f{k}:", "r0 += 1"] + ([f"call f{k + 1}"] if k < depth else []) + ["exit"]
    return "\n".join(lines)


def test_eight_frames_are_allowed_nine_are_not() -> None:
    assert run(chain(7)) == 7
    with pytest.raises(CallDepthError) as info:
        run(chain(8))
    assert info.value.pc == len(assemble(chain(8))) - 4  # the call in f7


def test_local_call_preserves_r6_to_r9_and_frames_are_separate() -> None:
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
        r0 = 0
        exit
    """
    assert run(text) == 113


def test_callee_can_use_pointer_into_caller_frame() -> None:
    text = """
        r1 = r10
        r1 += -8
        call sub
        r0 = *(u64 *)(r10 - 8)
        exit
    sub:
        *(u64 *)(r1 + 0) = 42
        exit
    """
    assert run(text) == 42


def test_unknown_helper() -> None:
    with pytest.raises(HelperError) as info:
        run("call 12345\nexit")
    assert "unknown helper 12345" in str(info.value) and info.value.pc == 0


def test_custom_helper_reads_memory_through_model() -> None:
    reg = HelperRegistry()

    def sum_bytes(env, ptr, size, *_):  # type: ignore[no-untyped-def]
        return sum(env.memory.read(ptr, size, env.pc))

    reg.add(Helper(1000, "sum_bytes", sum_bytes))
    assert run("r2 = 3\ncall 1000\nexit", b"\x01\x02\x03", helpers=reg) == 6
    with pytest.raises(MemoryAccessError):
        run("r2 = 4\ncall 1000\nexit", b"\x01\x02\x03", helpers=reg)


def test_helper_exception_becomes_helper_error() -> None:
    reg = HelperRegistry()
    reg.add(Helper(7, "broken", lambda env, *a: 1 // 0))
    with pytest.raises(HelperError) as info:
        run("call 7\nexit", helpers=reg)
    assert "broken" in str(info.value)


def test_helper_negative_return_is_wrapped_to_u64() -> None:
    reg = HelperRegistry()
    reg.add(Helper(9, "enoent", lambda env, *a: -2))
    assert run("call 9\nexit", helpers=reg) == (1 << 64) - 2


def test_callx_helper_and_function_address() -> None:
    assert run("r2 = 5\ncallx r2\nr0 = 2\nexit") == 2
    text = """
        r1 = func(pc+4) ll
        callx r1
        r0 += 1
        exit
        r0 = 41
        exit
    """
    assert run(text) == 42


def test_legacy_packet_loads_are_big_endian_and_abort_past_end() -> None:
    assert run("r0 = *(u16 *)skb[1]\nexit", b"\x00\x12\x34") == 0x1234
    assert run("r3 = 1\nr0 = *(u8 *)skb[r3 + 1]\nexit", b"\x00\x12\x34") == 0x34
    assert run("r0 = 7\nr0 = *(u32 *)skb[1]\nr0 = 9\nexit", b"\x00\x12\x34") == 0


def test_unresolved_map_reference_is_a_clear_error() -> None:
    with pytest.raises(VMError) as info:
        run("r1 = map_fd(3) ll\nr0 = 0\nexit")
    assert "needs a loader" in str(info.value)


def test_running_off_the_end_is_refused_at_load() -> None:
    from pybpf.errors import AssemblerError

    for text in ("if r1 == 0 goto +1\nexit\nr0 = 1", "call f\nexit\nf:\nr0 = 1\ncall f"):
        with pytest.raises(AssemblerError) as info:
            run(text)
        assert "last instruction must be exit or an unconditional jump" in str(info.value)


def test_callbacks_count_against_the_budget() -> None:
    text = """
        r1 = 1000
        r2 = func(pc+5) ll
        r3 = 0
        r4 = 0
        call 181
        exit
    spin:
        r0 = 0
        r1 = 0
    inner:
        r1 += 1
        if r1 < 100 goto inner
        exit
    """
    vm = Interpreter(assemble(text), budget=50_000)
    with pytest.raises(BudgetExceededError):
        vm.run()
    vm = Interpreter(assemble(text.replace("r1 = 1000", "r1 = 10")), budget=50_000)
    vm.run()
    assert vm.instructions_executed > 10 * 200

def test_program_writes_are_visible_in_caller_region() -> None:
    region = Region("mem", 8)
    vm = Interpreter(assemble("*(u32 *)(r1 + 4) = 0x01020304\nr0 = r2\nexit"))
    vm.memory.add(region)
    assert vm.run(region) == 8
    assert bytes(region.buf) == b"\0\0\0\0\x04\x03\x02\x01"


def test_runs_are_independent() -> None:
    vm = Interpreter(assemble("r0 = *(u64 *)(r10 - 8)\n*(u64 *)(r10 - 8) = 7\nexit"))
    assert vm.run() == 0
    assert vm.run() == 0  # the stack starts zeroed every run


def test_trace_reports_register_and_memory_changes() -> None:
    vm = Interpreter(assemble("r1 = 5\n*(u64 *)(r10 - 8) = r1\nr0 = *(u64 *)(r10 - 8)\nexit"))
    steps = []
    assert vm.trace([0] * 11, steps.append) == 5
    assert [s.pc for s in steps] == [0, 1, 2, 3]
    assert steps[0].regs_changed == {1: 5}
    assert steps[1].stores == [(vm.stack.end - 8, 8, 5)]
    assert steps[2].regs_changed == {0: 5}
