"""The platform description: program types, contexts, helper prototypes, as data."""

from __future__ import annotations

import pytest

from pybpf.helpers.kernel import KERNEL_HELPERS
from pybpf.helpers.prototypes import SIZE_KINDS, SIZED_MEMORY, ArgKind, RetKind, linux_prototypes
from pybpf.progtypes.platform import (
    SK_BUFF_SIZE,
    XDP_MD_SIZE,
    ValueKind,
    linux_platform,
    with_context_size,
)
from pybpf.progtypes.sections import ProgType

REQUIRED_HELPERS = (
    *range(1, 9),
    *(12, 14, 15, 16, 23, 26, 28, 42, 44, 45, 51, 54, 65, 87, 88, 89, 93, 94, 105, 106),
    *(112, 113, 114, 115, 118, 125, 130, 131, 132, 133, 134, 160, 164, 165, 177, 181, 182, 195, 208),
    *(9, 10, 11, 34, 38, 50),
)


def test_required_helpers_have_prototypes() -> None:
    protos = linux_prototypes()
    missing = [h for h in REQUIRED_HELPERS if protos.get(h) is None]
    assert not missing


def test_prototype_names_match_the_runtime_registry() -> None:
    protos = linux_prototypes()
    for hid, name, _ in KERNEL_HELPERS:
        proto = protos.get(hid)
        if proto is not None:
            assert proto.name == name, hid


def test_memory_arguments_are_followed_by_sizes() -> None:
    for proto in linux_prototypes().by_id.values():
        for k, arg in enumerate(proto.args):
            if arg.kind in SIZED_MEMORY:
                assert k + 1 < len(proto.args) and proto.args[k + 1].kind in SIZE_KINDS, proto.name
        if proto.callback is not None:
            assert proto.args[proto.callback.func_arg - 1].kind is ArgKind.PTR_TO_FUNC
        if proto.ret is RetKind.MAP_VALUE_OR_NULL:
            assert proto.args[0].kind is ArgKind.CONST_MAP_PTR


def test_packet_moving_helpers_are_marked() -> None:
    protos = linux_prototypes()
    assert {p.id for p in protos.by_id.values() if p.invalidates_packet} == {9, 10, 11, 38, 44, 50, 54, 65}


def test_contexts() -> None:
    plat = linux_platform()
    xdp = plat.prog_type("xdp")
    assert xdp.ctx.size == XDP_MD_SIZE and xdp.direct_packet_access and not xdp.ld_abs
    kinds = {f.name: f.kind for f in xdp.ctx.fields}
    assert kinds["data"] is ValueKind.PACKET and kinds["data_end"] is ValueKind.PACKET_END
    tc = plat.prog_type("tc")
    assert tc.prog_type is ProgType.SCHED_CLS and tc.ctx.size == SK_BUFF_SIZE and tc.ld_abs
    writable = {f.name for f in tc.ctx.fields if f.writable}
    assert {"mark", "priority", "tc_index", "cb", "tc_classid", "queue_mapping"} <= writable
    sock = plat.prog_type(ProgType.SOCKET_FILTER)
    assert not sock.direct_packet_access and sock.ld_abs
    assert {f.name for f in sock.ctx.fields if f.writable} == {"cb"}
    assert not sock.ctx.field_at(76, 4).readable  # type: ignore[union-attr]
    for name in ("kprobe", "tracepoint", "raw_tracepoint"):
        spec = plat.prog_type(name)
        assert spec.ctx.raw and not spec.ctx.raw_writable
    sysc = plat.prog_type("syscall")
    assert sysc.ctx.raw and sysc.ctx.raw_writable and sysc.ctx.buffer and sysc.ctx.size == 64
    assert with_context_size(sysc, 128).ctx.size == 128
    assert plat.prog_type("cgroup_skb").ret_range == (0, 1)


def test_shadow_fields_follow_the_struct() -> None:
    for name in ("xdp", "sched_cls", "sched_act", "cgroup_skb"):
        ctx = linux_platform().prog_type(name).ctx
        shadows = sorted(f.shadow_offset for f in ctx.pointer_fields() if f.shadow_offset is not None)
        assert shadows and shadows[0] >= ctx.size and shadows[0] % 8 == 0
        assert len(set(shadows)) == len(shadows)
        assert ctx.total_size == shadows[-1] + 8


def test_helper_sets_per_type() -> None:
    plat = linux_platform()
    assert plat.prog_type("xdp").allows_helper(44) and not plat.prog_type("xdp").allows_helper(26)
    assert plat.prog_type("tc").allows_helper(9) and not plat.prog_type("tc").allows_helper(44)
    assert plat.prog_type("kprobe").allows_helper(113)
    assert not plat.prog_type("socket_filter").allows_helper(113)


def test_unknown_type_and_raw_resize() -> None:
    plat = linux_platform()
    with pytest.raises(KeyError):
        plat.prog_type("nope")
    with pytest.raises(ValueError):
        with_context_size(plat.prog_type("xdp"), 32)
