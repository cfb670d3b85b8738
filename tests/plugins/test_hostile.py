"""The hostile gallery: every plugin is rejected at load or stopped at run time with the right
reason, on both engines, and the host keeps working (default behaviour back, other sessions and
plugins untouched)."""

from __future__ import annotations

import pytest

from pybpf.plugins import FaultKind, PluginError, PluginPackage

from .conftest import hostile_package
from .toyhost import Conn, EndpointState, make_host

# case -> (pattern the load error must match)
REJECTED_AT_LOAD = {
    "infinite_loop": r"object loop.o: program 'infinite_loop'.*no exit instruction",
    "oob_read_stack": r"bytecode oob_read_stack \(hostile.o:h/oob_read_stack\): rejected by the verifier at instruction \d+.*variable-offset read from stack",
    "oob_write_map": r"rejected by the verifier at instruction \d+.*invalid access to map value, value_size=8 off=24",
    "escalation": r"instruction \d+ calls pb_malloc, which needs permission 'heap'",
    "null_deref": r"rejected by the verifier at instruction \d+.*invalid mem access 'region_or_null'",
    "wild_pointer": r"rejected by the verifier at instruction \d+.*invalid mem access 'scalar'",
    "stack_smash": r"rejected by the verifier at instruction \d+.*variable-offset write to stack",
    "pointer_leak": r"rejected by the verifier at instruction \d+ \(call 1011\).*expected=scalar",
    "next_in_pre": r"calls pb_next, which only replace bytecodes may call \(this one is a pre observer\)",
    "ctx_read": r"invalid bpf_context access off=0 size=8",
    "missing_operation": r"bytecodes.missing_operation.operation: unknown operation 'no_such_operation'",
    "readonly_field_granted": r"bytecodes.readonly_field_granted.fields.write\[0\]: field 'rtt' is read-only",
    "unknown_field": r"bytecodes.unknown_field.fields.read\[0\]: the host has no field 'window'",
    "missing_section": r"bytecodes.missing_section.section: no program 'h/not_there'",
    "recursion": r"bytecode recursion \(hostile.o:h/recursion\): instruction \d+ makes a recursive call",
    "unbounded_loop": r"rejected by the verifier at instruction \d+.*BPF program is too large. Processed 100000 insn",
}

# case -> (operation, inputs, param, fault kind, message pattern, faulting bytecode)
STOPPED_AT_RUN = {
    "budget_burn": ("hook", (1,), None, FaultKind.BUDGET, r"instruction budget of 2000 exhausted", "budget_burn"),
    "heap_overflow": (
        "hook",
        (16,),
        None,
        FaultKind.HEAP_OVERFLOW,
        r"1-byte write.*heap overflow: 1-byte access at offset 16 of a 16-byte block",
        "heap_overflow",
    ),
    "heap_underflow": (
        "hook",
        (16,),
        None,
        FaultKind.HEAP_OVERFLOW,
        r"8-byte read.*heap underflow: 8-byte access 8 bytes before a 16-byte block",
        "heap_underflow",
    ),
    "uaf_write": (
        "hook",
        (1,),
        None,
        FaultKind.USE_AFTER_FREE,
        r"8-byte write.*use after free: 8-byte access at offset 8 of a freed 32-byte block",
        "uaf_write",
    ),
    "uaf_read": (
        "hook",
        (1,),
        None,
        FaultKind.USE_AFTER_FREE,
        r"8-byte read.*use after free: 8-byte access at offset 0 of a freed 32-byte block",
        "uaf_read",
    ),
    "double_free": (
        "hook",
        (1,),
        None,
        FaultKind.DOUBLE_FREE,
        r"pb_free: double free of heap block 0x[0-9a-f]+ \(24 bytes\)",
        "double_free",
    ),
    "invalid_free": (
        "hook",
        (1,),
        None,
        FaultKind.INVALID_FREE,
        r"pb_free: free of 0x[0-9a-f]+, which is not the start of a live block",
        "invalid_free",
    ),
    "readonly_field": (
        "hook",
        (1,),
        None,
        FaultKind.PERMISSION,
        r"pb_set_field: field 'rtt' is read-only",
        "readonly_field",
    ),
    "field_not_granted": (
        "hook",
        (1,),
        None,
        FaultKind.PERMISSION,
        r"may not read field 'acked' \(not in its manifest's fields.read\)",
        "field_not_granted",
    ),
    "cycle_a": ("hook", (1,), None, FaultKind.CYCLE, r"operation hook re-entered: hook -> compute -> hook", "cycle_b"),
    "huge_alloc": (
        "hook",
        (1,),
        None,
        FaultKind.OUT_OF_MEMORY,
        r"pb_malloc\(1099511627776\) asks for more than the whole heap \(65536 bytes\)",
        "huge_alloc",
    ),
    "deep_recursion": (
        "process_frame",
        (1,),
        0,
        FaultKind.NESTING,
        r"operations nested deeper than 16 \(process_frame\[16\]\)",
        "deep_recursion",
    ),
    "bad_api_arg": (
        "hook",
        (1,),
        None,
        FaultKind.BAD_ARGUMENT,
        r"pb_get_input: input 7 does not exist \(operation hook has 1\)",
        "bad_api_arg",
    ),
    "unknown_op": (
        "hook",
        (1,),
        None,
        FaultKind.UNKNOWN_OPERATION,
        r"pb_call_op: no operation with id 9999",
        "unknown_op",
    ),
    "shm_bad_flags": ("hook", (1,), None, FaultKind.BAD_ARGUMENT, r"pb_shm_get: unknown flags 0x80", "shm_bad_flags"),
    "no_impl": ("hook", (1,), None, FaultKind.NO_IMPLEMENTATION, r"operation phantom has no implementation", "no_impl"),
    "bad_log": (
        "hook",
        (1,),
        None,
        FaultKind.BAD_ARGUMENT,
        r"pb_log: bad format b'%q': unsupported conversion %q",
        "bad_log",
    ),
}

DEFAULTS = {
    "hook": lambda inputs, param: inputs[0] + 1,
    "process_frame": lambda inputs, param: 1000 * (param or 0) + inputs[0],
}


def test_gallery_is_large_enough() -> None:
    assert len(REJECTED_AT_LOAD) + len(STOPPED_AT_RUN) >= 30


@pytest.mark.parametrize("case", sorted(REJECTED_AT_LOAD))
def test_rejected_at_load(case: str, hostile_objects: dict[str, bytes]) -> None:
    host = make_host(engine="interp")
    s = host.endpoint("ep", EndpointState()).session(Conn())
    pkg = hostile_package(case, hostile_objects)
    with pytest.raises(PluginError, match=REJECTED_AT_LOAD[case]) as info:
        s.insert(pkg)
    assert f"plugin org.pybpf.hostile.{case}" in str(info.value)
    assert s.plugins == {} and s.faults == []
    assert s.call("hook", 4) == 5  # nothing changed


@pytest.mark.parametrize("case", sorted(STOPPED_AT_RUN))
def test_stopped_at_run_time(
    case: str, engine: str, hostile_objects: dict[str, bytes], plugins: dict[str, PluginPackage]
) -> None:
    op, inputs, param, kind, pattern, bytecode = STOPPED_AT_RUN[case]
    host = make_host(engine=engine)
    ep = host.endpoint("ep", EndpointState())
    victim, bystander = ep.session(Conn()), ep.session(Conn())
    bystander.insert(plugins["counter"])
    inst = victim.insert(hostile_package(case, hostile_objects))
    expected = DEFAULTS[op](inputs, param)

    # The call completes, with the host's default behaviour where the plugin was.
    assert victim.call(op, *inputs, param=param) == expected
    (fault,) = victim.faults
    assert fault.kind is kind, fault
    assert fault.plugin == f"org.pybpf.hostile.{case}"
    assert fault.bytecode == bytecode
    assert fault.pc is not None and fault.pc >= 0
    import re

    assert re.search(pattern, fault.message), fault.message
    assert host.faults == [fault] and ep.faults == [fault]
    # The plugin is gone from the session; the default stays.
    assert not inst.active and inst.id not in victim.plugins
    assert victim.call(op, *inputs, param=param) == expected
    assert len(victim.faults) == 1
    # Another session's plugin is untouched.
    assert bystander.call("on_ack", 5) == 20 and bystander.faults == []
    assert not victim.closed


def test_faults_name_operation_and_engines_agree(hostile_objects: dict[str, bytes]) -> None:
    seen = []
    for engine in ("interp", "jit"):
        host = make_host(engine=engine)
        s = host.endpoint("ep", EndpointState()).session(Conn())
        s.insert(hostile_package("uaf_write", hostile_objects))
        s.call("hook", 1)
        f = s.faults[0]
        seen.append((f.kind, f.pc, f.operation, f.bytecode))
    assert seen[0] == seen[1] == (FaultKind.USE_AFTER_FREE, seen[0][1], "hook", "uaf_write")


def test_policy_close(hostile_objects: dict[str, bytes], plugins: dict[str, PluginPackage]) -> None:
    from pybpf.plugins import SessionClosedError

    host = make_host(engine="interp", fault_policy="close")
    ep = host.endpoint("ep", EndpointState())
    s, other = ep.session(Conn()), ep.session(Conn())
    s.insert(plugins["counter"])
    s.insert(hostile_package("double_free", hostile_objects))
    other.insert(plugins["counter"])
    assert s.call("hook", 1) == 2  # this call completes with the default ...
    assert s.closed and s.plugins == {}  # ... then the policy closes the session
    with pytest.raises(SessionClosedError):
        s.call("hook", 1)
    assert other.call("on_ack", 1) == 12 and not other.closed


def test_policy_callable(hostile_objects: dict[str, bytes]) -> None:
    decisions = []

    def policy(fault: object, session: object) -> str:
        decisions.append((fault, session))
        return "continue"

    host = make_host(engine="interp", fault_policy=policy)
    s = host.endpoint("ep", EndpointState()).session(Conn())
    s.insert(hostile_package("bad_api_arg", hostile_objects))
    s.call("hook", 1)
    assert decisions == [(s.faults[0], s)] and not s.closed


def test_fault_in_one_plugin_leaves_the_chain(
    hostile_objects: dict[str, bytes], plugins: dict[str, PluginPackage], engine: str
) -> None:
    """A faulty replace in the middle of a chain: the others still run, next() skips it."""
    host = make_host(engine=engine)
    s = host.endpoint("ep", EndpointState()).session(Conn())
    s.insert(plugins["chain_double"])  # compute, sequence 0: 2 * next()
    s.insert(hostile_package("cycle_a", hostile_objects))  # compute (seq 0, after): calls hook -> compute
    assert s.call("compute", 2, 3) == 10  # double(default): the faulty plugin was dropped mid-call
    assert [f.kind for f in s.faults] == [FaultKind.CYCLE]
    assert "org.pybpf.test.chain_double" in s.plugins


def test_endpoint_plugin_fault_removes_it_everywhere(hostile_objects: dict[str, bytes]) -> None:
    import json

    from pybpf.plugins.manifest import validate

    data = json.loads(json.dumps(hostile_package("bad_api_arg", hostile_objects).manifest.raw))
    data["scope"] = "endpoint"
    pkg = PluginPackage(validate(data), {"hostile.o": hostile_objects["hostile.o"]})
    host = make_host(engine="interp")
    ep = host.endpoint("ep", EndpointState())
    a, b = ep.session(Conn()), ep.session(Conn())
    ep.insert(pkg)
    assert a.call("hook", 1) == 2
    assert a.faults[0].scope == "endpoint" and ep.plugins == {}
    assert b.call("hook", 1) == 2 and b.faults == []


def test_removal_while_running(plugins: dict[str, PluginPackage], engine: str) -> None:
    """The host removes a plugin from inside a default the plugin's next() called."""
    host = make_host(engine=engine)
    s = host.endpoint("ep", EndpointState()).session(Conn())

    def default(inv: object) -> int:
        if s.plugins:
            s.remove("org.pybpf.test.chain_inc")
        return 5

    host.operations[3] = host.operations[3].__class__(3, "compute", ("a", "b"), (), default)
    host.version += 1
    s.insert(plugins["chain_inc"])
    assert s.call("compute", 2, 3) == 6  # the running bytecode finishes its work
    assert s.plugins == {} and s.call("compute", 2, 3) == 5


def test_engines_give_the_same_faults(hostile_objects: dict[str, bytes]) -> None:
    """Kind, instruction and message (addresses aside) agree between the interpreter, the JIT and
    the tiered engine, for every run-time case of the gallery."""
    import re

    def faults(engine: str) -> list[tuple[object, ...]]:
        out = []
        for case, (op, inputs, param, *_rest) in sorted(STOPPED_AT_RUN.items()):
            host = make_host(engine=engine)
            s = host.endpoint("ep", EndpointState()).session(Conn())
            s.insert(hostile_package(case, hostile_objects))
            result = s.call(op, *inputs, param=param)
            f = s.faults[0]
            message = re.sub(r"0x[0-9a-f]+", "ADDR", f.message)
            message = re.sub(r"nearest: .*?(\(|$)", r"nearest: ...\1", message)
            out.append((case, result, f.kind, f.pc, f.bytecode, message))
        return out

    interp = faults("interp")
    assert faults("jit") == interp
    assert faults("auto") == interp
