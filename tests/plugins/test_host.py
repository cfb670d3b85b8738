"""The reference host with well-behaved plugins, on both engines: modes, chains, parameters,
created operations, nested calls, memory, maps, scopes, insertion and removal."""

from __future__ import annotations

import pytest

from pybpf.plugins import Host, PluginError, PluginPackage, SessionClosedError
from pybpf.plugins.api import API

from .conftest import SRC
from .toyhost import make_host, new_session


def test_toy_header_matches_host() -> None:
    assert (SRC / "toy.h").read_text() == make_host().c_header()


def test_defaults_without_plugins() -> None:
    s = new_session(make_host())
    assert s.call("on_ack", 5) == 15
    assert s.invoke("on_ack", 1).outputs == [16]
    assert s.call("process_frame", 3, param=2) == 2003
    assert s.call("compute", 2, 3) == 5
    assert s.call(3, 2, 3) == 5  # by id


def test_replace_with_fields_maps_and_log(plugins: dict[str, PluginPackage], engine: str) -> None:
    s = new_session(make_host(engine=engine))
    inst = s.insert(plugins["counter"])
    assert s.call("on_ack", 5) == 20  # cwnd 10 + 2 * 5, through pb_get_field / pb_set_field
    assert s.state.cwnd == 20
    assert "default:on_ack" not in s.state.trace
    inv = s.invoke("on_ack", 1)
    assert inv.result == 22 and inv.outputs == [22]
    calls = s.plugin("org.pybpf.test.counter").maps["calls"]
    assert int.from_bytes(calls[0], "little") == 2
    assert s.call("compute", 3, 4) == 7  # post observer sees the result
    assert int.from_bytes(calls[1], "little") == 7
    assert inst.log == ["on_ack acked=5 cwnd=20", "on_ack acked=1 cwnd=22"]
    assert s.faults == []


def test_pre_and_post_observers(plugins: dict[str, PluginPackage], engine: str) -> None:
    s = new_session(make_host(engine=engine))
    inst = s.insert(plugins["observer"])
    assert s.call("on_ack", 5) == 15  # observers' return values are ignored
    obs = inst.maps["obs"]
    values = [int.from_bytes(obs[k], "little") for k in range(4)]
    # 0: pre saw cwnd before; 1: post saw the result; 2: pre saw no result yet; 3: post saw cwnd after
    assert values == [10, 15, 0, 15]
    assert s.state.trace == ["default:on_ack"]


def test_observers_with_replace(plugins: dict[str, PluginPackage], engine: str) -> None:
    s = new_session(make_host(engine=engine))
    s.insert(plugins["counter"])
    obs = s.insert(plugins["observer"]).maps["obs"]
    assert s.call("on_ack", 5) == 20
    assert [int.from_bytes(obs[k], "little") for k in range(4)] == [10, 20, 0, 20]


def test_chain_with_next(plugins: dict[str, PluginPackage], engine: str) -> None:
    s = new_session(make_host(engine=engine))
    # inserted in the opposite order of their sequence numbers: the chain follows the sequence
    s.insert(plugins["chain_inc"])
    assert s.call("compute", 2, 3) == 6  # next() of the last replace = the default
    s.insert(plugins["chain_double"])
    assert s.call("compute", 2, 3) == 12  # double(inc(default)) = 2 * (5 + 1)
    assert s.state.trace.count("default:compute") == 2
    s.remove("org.pybpf.test.chain_inc")
    assert s.call("compute", 2, 3) == 10
    s.remove("org.pybpf.test.chain_double")
    assert s.call("compute", 2, 3) == 5


def test_parametrised_operations(plugins: dict[str, PluginPackage], engine: str) -> None:
    s = new_session(make_host(engine=engine))
    inst = s.insert(plugins["frames"])
    seen = inst.maps["seen"]
    assert s.call("process_frame", 4, param=7) == 7000 + 8 + 1  # the param-7 replace
    # an unknown parameter falls back to the unparametrised entry: the pre observer + default
    assert s.call("process_frame", 4, param=3) == 3004
    assert int.from_bytes(seen[0], "little") == 1
    assert int.from_bytes(seen[1], "little") == 3
    assert s.call("process_frame", 4) == 4  # no parameter at all
    assert int.from_bytes(seen[1], "little") == (1 << 64) - 1  # PB_NO_PARAM


def test_created_operation_and_nested_calls(plugins: dict[str, PluginPackage], engine: str) -> None:
    s = new_session(make_host(engine=engine))
    s.insert(plugins["newop"])
    assert s.operation("triple").owner == "org.pybpf.test.newop"
    assert s.call("triple", 4) == 12  # the host can call it too
    assert s.call("schedule") == 15 * 1000 + 16  # plugin op (15) then host op hook(15) = 16
    assert "default:hook" in s.state.trace


def test_reentrant_bytecode_through_parameters(plugins: dict[str, PluginPackage], engine: str) -> None:
    s = new_session(make_host(engine=engine))
    inst = s.insert(plugins["newop"])
    # process_frame[0] -> [1] -> [2] -> [3]: the same bytecode runs nested four times
    assert s.call("process_frame", 1, param=0) == 1 + 3 + 20 + 10
    assert len(inst.bytecodes["descend"].engines) == 4
    assert s.faults == []


def test_byte_inputs_and_outputs(plugins: dict[str, PluginPackage], engine: str) -> None:
    s = new_session(make_host(engine=engine))
    assert s.invoke("encode", b"abc").outputs == [b"cba"]
    s.insert(plugins["bytes_enc"])
    inv = s.invoke("encode", b"Hello")
    assert inv.result == 5 and inv.outputs == [b"hELLO"]


def test_heap_scratch_and_shared_memory(plugins: dict[str, PluginPackage], engine: str) -> None:
    host = make_host(engine=engine)
    s = new_session(host)
    inst = s.insert(plugins["heapuser"])
    assert s.call("hook", 10) == 55 + 1000  # first invocation
    assert s.call("hook", 3) == 6 + 2000  # the counter persisted in shared memory
    assert s.faults == []
    heap = inst.memory.heap
    # malloc, realloc (a new block), calloc per invocation, and everything freed
    assert (heap.stats.blocks, heap.stats.allocations, heap.stats.frees) == (0, 6, 6)
    assert inst.memory.scratch.stats.blocks == 0  # wiped after each invocation
    assert inst.memory.shm.read(1) == (2).to_bytes(8, "little")
    assert s.endpoint.shm.read(9) == (13).to_bytes(8, "little")


def test_many_small_blocks_do_not_fragment(plugins: dict[str, PluginPackage], engine: str) -> None:
    s = new_session(make_host(engine=engine))
    inst = s.insert(plugins["heapuser"])
    assert s.call("compute", 150, 0) == 450  # every one of 450 allocations succeeded
    assert inst.memory.heap.stats.failures == 0 and inst.memory.heap.stats.blocks == 0


def test_sessions_are_isolated(plugins: dict[str, PluginPackage], engine: str) -> None:
    host = make_host(engine=engine)
    ep = host.endpoint("ep")
    from .toyhost import Conn, EndpointState

    ep.state = EndpointState()
    a, b = ep.session(Conn()), ep.session(Conn())
    ia = a.insert(plugins["heapuser"])
    ib = b.insert(plugins["heapuser"])
    assert a.call("hook", 2) == 3 + 1000
    assert a.call("hook", 2) == 3 + 2000
    assert b.call("hook", 2) == 3 + 1000  # b's plugin has its own memory
    assert ia.memory.memory is not ib.memory.memory
    assert ep.shm.read(9) == (6).to_bytes(8, "little")  # the endpoint store is shared on purpose
    c = ep.session(Conn())
    assert c.call("hook", 2) == 3  # a session without the plugin: the default


def test_endpoint_scope(plugins: dict[str, PluginPackage], engine: str) -> None:
    from .toyhost import Conn, EndpointState

    host = make_host(engine=engine)
    ep = host.endpoint("ep", EndpointState())
    a = ep.session(Conn())
    ep.insert(plugins["epcount"])
    b = ep.session(Conn())  # later sessions get it too
    assert a.call("hook", 5) == 5
    assert b.call("hook", 7) == 12
    assert ep.state.total == 12
    assert a.plugin("org.pybpf.test.epcount") is b.plugin("org.pybpf.test.epcount")
    with pytest.raises(PluginError, match="scope is 'endpoint'"):
        a.insert(plugins["epcount"])
    ep.remove("org.pybpf.test.epcount")
    assert a.call("hook", 5) == 6


def test_insert_from_zip_and_directory(zips: dict[str, object], engine: str) -> None:
    s = new_session(make_host(engine=engine))
    s.insert(zips["counter"])  # type: ignore[arg-type]
    assert s.call("on_ack", 5) == 20


def test_insert_is_all_or_nothing(plugins: dict[str, PluginPackage], hostile_objects: dict[str, bytes]) -> None:
    from pybpf.plugins.manifest import validate

    good = plugins["counter"]
    raw = dict(good.manifest.raw)
    raw["bytecodes"] = dict(raw["bytecodes"])
    raw["bytecodes"]["bad"] = {
        "object": "hostile.o",
        "section": "h/wild_pointer",
        "operation": "hook",
        "mode": "replace",
    }
    pkg = PluginPackage(validate(raw), {**good.objects, "hostile.o": hostile_objects["hostile.o"]})
    s = new_session(make_host(engine="interp"))
    with pytest.raises(PluginError, match=r"bytecode bad \(hostile.o:h/wild_pointer\).*instruction 2"):
        s.insert(pkg)
    assert s.plugins == {}
    assert s.call("on_ack", 5) == 15  # nothing of the good bytecodes was attached


def test_duplicate_insert_and_removal_errors(plugins: dict[str, PluginPackage]) -> None:
    s = new_session(make_host(engine="interp"))
    s.insert(plugins["counter"])
    with pytest.raises(PluginError, match="already inserted"):
        s.insert(plugins["counter"])
    with pytest.raises(PluginError, match="no plugin 'nope'"):
        s.remove("nope")


def test_created_operation_clash(plugins: dict[str, PluginPackage]) -> None:
    host = make_host(engine="interp")
    host.operation(100, "clash_op", lambda inv: 0)
    s = new_session(host)
    with pytest.raises(PluginError, match=r"'triple' \(id 100\) clashes with host toy's operation 'clash_op'"):
        s.insert(plugins["newop"])


def test_unknown_operation_and_inputs_from_python() -> None:
    s = new_session(make_host())
    with pytest.raises(PluginError, match="no operation 'nope'"):
        s.call("nope")
    with pytest.raises(PluginError, match="takes 2 inputs"):
        s.call("compute", 1)
    with pytest.raises(PluginError, match="must be an int or bytes"):
        s.call("hook", "text")


def test_host_reentry_is_an_error() -> None:
    host = make_host()
    host.operation(50, "loop", lambda inv: inv.session.call("loop"))
    s = new_session(host)
    with pytest.raises(PluginError, match="re-entered by the host"):
        s.call("loop")
    assert s.call("outer", 1) == 2  # nesting through different operations is fine


def test_host_exceptions_reach_the_host(plugins: dict[str, PluginPackage], engine: str) -> None:
    host = make_host(engine=engine)

    def boom(inv: object) -> int:
        raise ZeroDivisionError("host bug")

    host.operation(60, "boom", boom)
    s = new_session(host)
    s.insert(plugins["chain_inc"])
    with pytest.raises(ZeroDivisionError):
        s.call("boom")
    # a host exception under a bytecode (pb_next -> default) is the host's, not a plugin fault
    host2 = Host("h2", engine=engine)
    host2.operation(3, "compute", boom, inputs=("a", "b"))
    s2 = host2.endpoint().session()
    s2.insert(plugins["chain_inc"])
    with pytest.raises(ZeroDivisionError):
        s2.call("compute", 1, 2)
    assert s2.faults == [] and "org.pybpf.test.chain_inc" in s2.plugins


def test_closed_session_refuses_calls() -> None:
    s = new_session(make_host())
    s.close()
    with pytest.raises(SessionClosedError):
        s.call("hook", 1)


def test_header_declares_every_api_function() -> None:
    from pybpf.plugins import include_dir

    text = (include_dir() / "pybpf" / "plugin.h").read_text()
    for fn in API:
        assert f"(*{fn.name})(" in text and f"= (void *) {fn.id};" in text, fn.name
    for name, hid in (("bpf_map_lookup_elem", 1), ("bpf_map_update_elem", 2), ("bpf_map_delete_elem", 3)):
        assert f"(*{name})(" in text and f"= (void *) {hid};" in text


def test_engines_agree(plugins: dict[str, PluginPackage]) -> None:
    results = []
    for engine in ("interp", "jit"):
        s = new_session(make_host(engine=engine))
        for name in ("counter", "chain_double", "chain_inc", "frames", "heapuser"):
            s.insert(plugins[name])
        results.append(
            [
                s.call("on_ack", 3),
                s.call("compute", 10, 0),
                s.call("process_frame", 9, param=7),
                s.call("hook", 12),
                s.state.cwnd,
            ]
        )
    assert results[0] == results[1]


def test_small_api_functions(plugins: dict[str, PluginPackage], engine: str) -> None:
    s = new_session(make_host(engine=engine))
    s.insert(plugins["misc"])
    assert s.call("hook", 1) == 0b1111  # time, inputs/param, shm new/get, shm remove
    assert s.faults == []
