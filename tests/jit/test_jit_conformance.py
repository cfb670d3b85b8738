"""All bpf_conformance vectors through the JIT, the plugin protocol and the tiered engine; caches."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pybpf.conformance import ConformanceCase, encode_for_plugin, find_directory, load_directory, plugin_main
from pybpf.engine import make_engine
from pybpf.isa.assembler import assemble
from pybpf.jit import JitEngine, TieredEngine, cache
from pybpf.vm.interpreter import Interpreter

EXPECTED_FILES = 313
HELLO = (Path(__file__).resolve().parents[2] / "examples" / "hello.asm").read_text()


def _cases() -> list[ConformanceCase]:
    directory = find_directory(Path(__file__))
    return load_directory(directory) if directory else []


CASES = _cases()


@pytest.fixture(autouse=True, scope="module")
def private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep the tests' object files out of the user's cache."""
    path = tmp_path_factory.mktemp("pybpf-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(cache.ENV_DIR, str(path))
        yield path


def test_all_vectors_present(conformance_dir: Path) -> None:
    assert len(load_directory(conformance_dir)) == EXPECTED_FILES == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_jit(case: ConformanceCase) -> None:
    vm = JitEngine(case.program, budget=10_000_000)
    assert vm.run(case.memory) == case.result


def test_plugin_protocol_in_process_with_jit() -> None:
    failures = []
    for case in CASES:
        argv, stdin = encode_for_plugin(case)
        code, out = plugin_main(argv, stdin, engine="jit")
        if code != 0 or int(out, 16) != case.result:
            failures.append((case.name, code, out))
    assert not failures


def test_tiered_engine_on_every_vector() -> None:
    """Each vector run twice through ``auto`` with an immediate tier-up: interpreted, then native."""
    failures = []
    for case in CASES:
        vm = make_engine(case.program, engine="auto", tier_threshold_ns=0)
        assert isinstance(vm, TieredEngine)
        results = [vm.run(case.memory), vm.run(case.memory)]
        if results != [case.result] * 2 or not vm.tiered:
            failures.append((case.name, results, vm.jit_error))
    assert not failures


# -- engine selection and tiering ------------------------------------------------------------------
def test_make_engine_builds_each_engine() -> None:
    program = assemble(HELLO)
    assert type(make_engine(program, engine="interp", opt_level=1, safe={3})) is Interpreter
    assert isinstance(make_engine(program, engine="jit", opt_level=1), JitEngine)
    assert isinstance(make_engine(program, engine="auto"), TieredEngine)


def test_tiered_engine_interprets_a_one_shot_run() -> None:
    program = assemble(HELLO + "\n# unique: one-shot\n") + assemble("r0 = 1\nexit")  # bytecode no one compiled
    vm = TieredEngine(program, cache=False)
    assert vm.run() == 5050
    assert not vm.tiered and vm.compile_times is None


def test_tiered_engine_compiles_once_interpreting_costs_more_than_compiling() -> None:
    vm = TieredEngine(assemble(HELLO), tier_threshold_ns=2_000_000, cache=False)
    runs = 0
    while not vm.tiered:
        assert vm.run() == 5050
        runs += 1
        assert runs < 10_000
    assert runs > 1  # several interpreted runs first: one takes far less than 2 ms
    assert vm.run() == 5050 and vm.instructions_executed == 305


def test_tiered_engine_goes_back_to_interpreting_when_native_is_slower() -> None:
    """A loop of helper calls: every call crosses native -> Python, which costs more than the
    interpreter's direct call, so probation ends the native tier."""
    program = assemble("r6 = 200\nloop:\ncall 5\nr6 -= 1\nif r6 != 0 goto loop\nr0 = 3\nexit")
    vm = TieredEngine(program, tier_threshold_ns=0, cache=False)
    runs = 0
    while vm.tiered or not vm.jit_rejected:
        assert vm.run() == 3
        runs += 1
        if runs > 20_000 or (vm.tiered and not vm.on_probation):
            break
    assert vm.native_insns > 0
    # On a quiet machine the verdict is "rejected"; either way the engine keeps giving right answers.
    assert vm.run() == 3 and vm.instructions_executed == 1 + 3 * 200 + 2


def test_tiered_engine_starts_native_when_this_process_already_compiled_it() -> None:
    program = assemble(HELLO)
    JitEngine(program)
    vm = TieredEngine(program)
    assert vm.tiered and vm.run() == 5050


# -- caches ------------------------------------------------------------------------------------------
def test_memory_then_disk_cache(private_cache_dir: Path) -> None:
    program = assemble("r0 = 0x5eed\nr0 += r2\nexit")
    cache.memory_clear()
    first = JitEngine(program)
    assert first.compile_times.source == "compiled"
    assert list((private_cache_dir / "jit").glob("*.o"))
    assert JitEngine(program).compile_times.source == "memory"
    cache.memory_clear()
    again = JitEngine(program)
    assert again.compile_times.source == "disk"
    assert again.run(b"123") == 0x5EED + 3 == first.run(b"123")


def test_corrupt_disk_entry_is_ignored_and_replaced(private_cache_dir: Path) -> None:
    program = assemble("r0 = 0xbad\nexit")
    cache.memory_clear()
    JitEngine(program)
    for path in (private_cache_dir / "jit").glob("*.o"):
        path.write_bytes(path.read_bytes()[:-7] + b"garbage")
    cache.memory_clear()
    vm = JitEngine(program)
    assert vm.compile_times.source == "compiled" and vm.run() == 0xBAD
    cache.memory_clear()
    assert JitEngine(program).compile_times.source == "disk"


def test_options_change_the_key() -> None:
    key = cache.program_key(b"x" * 8, stack_size=512, max_call_depth=8, safe=(), opt_level=2)
    assert key != cache.program_key(b"x" * 8, stack_size=512, max_call_depth=8, safe=(), opt_level=1)
    assert key != cache.program_key(b"x" * 8, stack_size=256, max_call_depth=8, safe=(), opt_level=2)
    assert key != cache.program_key(b"x" * 8, stack_size=512, max_call_depth=8, safe=(0,), opt_level=2)


def test_second_process_loads_from_disk(private_cache_dir: Path) -> None:
    script = (
        "from pybpf.isa.assembler import assemble\n"
        "from pybpf.jit import JitEngine\n"
        "vm = JitEngine(assemble('r0 = 77\\nexit'))\n"
        "print(vm.compile_times.source, vm.run())\n"
    )
    env = dict(os.environ, **{cache.ENV_DIR: str(private_cache_dir)})
    outputs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120).stdout
        for _ in range(2)
    ]
    assert outputs[1].split() == ["disk", "77"]
    assert outputs[0].split()[1] == "77"


def test_unwritable_cache_dir_still_compiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(cache.ENV_DIR, str(blocker))
    cache.memory_clear()
    assert JitEngine(assemble("r0 = 5\nexit")).run() == 5
