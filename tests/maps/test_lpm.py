"""LPM_TRIE: longest-prefix match, exact-prefix delete, post-order iteration, against a brute-force model."""

from __future__ import annotations

import errno
import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.maps import BPF_F_NO_PREALLOC, LpmTrieMap, MapSpec, MapType

from . import make, new


def trie(data_size: int = 4, max_entries: int = 16) -> LpmTrieMap:
    m = new(MapSpec("lpm", MapType.LPM_TRIE, 4 + data_size, 4, max_entries, map_flags=BPF_F_NO_PREALLOC))
    assert isinstance(m, LpmTrieMap)
    return m


def key(net: str) -> bytes:
    n = ipaddress.ip_network(net, strict=False)
    return n.prefixlen.to_bytes(4, "little") + n.network_address.packed


def val(i: int) -> bytes:
    return i.to_bytes(4, "little")


def test_longest_prefix_wins() -> None:
    m = trie()
    for i, net in enumerate(["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "0.0.0.0/0"]):
        assert m.update(key(net), val(i)) == 0
    v = m.with_codec(value=int)
    assert v[(32, "10.1.2.3")] == 2
    assert v[(32, "10.1.9.9")] == 1
    assert v[(32, "10.9.9.9")] == 0
    assert v[(32, "11.0.0.0")] == 3
    assert v[(16, "10.1.2.3")] == 1  # a shorter lookup prefix only sees prefixes up to its length
    assert m.lookup((33).to_bytes(4, "little") + bytes([10, 1, 2, 3])) == 0  # prefixlen > 32: NULL
    assert m.check_consistency() == []


def test_kernel_example_iterates_more_specific_first() -> None:
    """The four-node example in lpm_trie.c returns this order from get_next_key."""
    m = trie()
    for i, net in enumerate(["192.168.0.0/16", "192.168.0.0/24", "192.168.1.0/24", "192.168.128.0/24"]):
        m[ipaddress.ip_network(net)] = i
    order = [str(ipaddress.ip_network((ipaddress.ip_address(k[4:]), int.from_bytes(k[:4], "little")))) for k in m]
    assert order == ["192.168.0.0/24", "192.168.1.0/24", "192.168.128.0/24", "192.168.0.0/16"]
    chain = []
    err, k = m.get_next_key(None)
    while err == 0:
        chain.append(k)
        err, k = m.get_next_key(k)
    assert err == -errno.ENOENT and chain == m.keys()
    assert m.get_next_key(key("1.2.3.0/24")) == (0, chain[0])  # an absent key restarts at the first


def test_delete_needs_the_exact_prefix_and_collapses_intermediate_nodes() -> None:
    m = trie()
    m[key("10.0.0.0/24")] = 1
    m[key("10.0.1.0/24")] = 2  # creates an intermediate 10.0.0.0/23 node
    assert m.delete(key("10.0.0.0/23")) == -errno.ENOENT  # intermediate nodes are not entries
    assert m.delete(key("10.0.0.0/16")) == -errno.ENOENT
    assert m.delete(key("10.0.0.7/24")) == 0  # bits past the prefix do not matter
    assert m.keys() == [key("10.0.1.0/24")]
    assert m.check_consistency() == []
    assert m.delete(key("10.0.1.0/24")) == 0 and len(m) == 0
    m[key("10.0.0.0/8")] = 1
    m[key("10.1.0.0/16")] = 2
    m[key("10.2.0.0/16")] = 3
    assert m.delete(key("10.0.0.0/8")) == 0  # two children: becomes intermediate
    assert m.with_codec(value=int).get((32, "10.3.0.0")) is None
    assert m.with_codec(value=int)[(32, "10.2.3.4")] == 3
    assert m.check_consistency() == []


def test_full_trie_is_enospc_even_for_replacement_and_flags_act_like_any() -> None:
    m = trie(max_entries=2)
    assert m.update(key("10.0.0.0/8"), val(1), 2) == 0  # BPF_EXIST on an absent key: acts like ANY
    assert m.update(key("10.0.0.0/8"), val(2), 1) == 0  # BPF_NOEXIST on a present key: replaces
    assert m.update(key("11.0.0.0/8"), val(3)) == 0
    assert m.update(key("12.0.0.0/8"), val(4)) == -errno.ENOSPC
    assert m.update(key("10.0.0.0/8"), val(5)) == -errno.ENOSPC  # kernels before 6.13
    assert m.update(key("10.0.0.0/8"), val(5), 3) == -errno.EINVAL
    bad = (33).to_bytes(4, "little") + bytes(4)
    assert m.delete(bad) == -errno.EINVAL
    assert m.delete(key("10.0.0.0/8")) == 0 and m.update(key("12.0.0.0/8"), val(4)) == 0


def test_lookup_returns_writable_value_pointer() -> None:
    from pybpf.vm.memory import Memory

    m = trie()
    m[key("10.0.0.0/8")] = 1
    addr = m.lookup(key("10.2.3.4/32"))
    Memory([m.region]).store(addr, 4, 77)
    assert m.with_codec(value=int)[ipaddress.ip_network("10.0.0.0/8")] == 77


def test_ipv6_keys() -> None:
    m = make(MapType.LPM_TRIE, 20, 4, 8, map_flags=BPF_F_NO_PREALLOC)
    m[ipaddress.ip_network("2001:db8::/32")] = 1
    m[ipaddress.ip_network("2001:db8:1::/48")] = 2
    v = m.with_codec(value=int)
    assert v[(128, "2001:db8:1::5")] == 2 and v[(128, "2001:db8:2::5")] == 1


def _model_lookup(model: dict[tuple[int, int], int], pl: int, data: int, bits: int) -> int | None:
    best = None
    for (epl, edata), v in model.items():
        if epl <= pl and (epl == 0 or (edata ^ data) >> (bits - epl) == 0):
            if best is None or epl > best[0]:
                best = (epl, v)
    return None if best is None else best[1]


def _ident(k: bytes) -> tuple[int, int]:
    """(prefixlen, data with the bits past the prefix cleared): what makes two keys the same entry."""
    pl = int.from_bytes(k[:4], "little")
    data = int.from_bytes(k[4:], "big")
    return pl, (data >> (16 - pl) << (16 - pl)) if pl else 0


OPS = st.lists(
    st.tuples(
        st.sampled_from(["update", "delete", "lookup"]), st.integers(0, 12), st.integers(0, 0xFFFF), st.integers(0, 99)
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_trie_matches_brute_force_model(ops: list[tuple[str, int, int, int]]) -> None:
    bits = 16
    m = trie(data_size=2, max_entries=6)
    model: dict[tuple[int, int], int] = {}
    for op, pl, data, value in ops:
        pl = min(pl, 16)
        k = pl.to_bytes(4, "little") + data.to_bytes(2, "big")
        ident = _ident(k)
        if op == "update":
            expect = -errno.ENOSPC if len(model) == 6 else 0
            assert m.update(k, val(value)) == expect
            if expect == 0:
                model[ident] = value
        elif op == "delete":
            expect = 0 if ident in model else -errno.ENOENT
            assert m.delete(k) == expect
            model.pop(ident, None)
        else:
            want = _model_lookup(model, 16, data, bits)
            addr = m.lookup((16).to_bytes(4, "little") + data.to_bytes(2, "big"))
            assert (addr == 0) == (want is None)
            if want is not None:
                assert m.lookup_elem((16).to_bytes(4, "little") + data.to_bytes(2, "big")) == val(want)
        assert len(m) == len(model)
    keys = m.keys()
    assert {_ident(k) for k in keys} == set(model)
    # post-order: no prefix is listed before a more specific prefix it contains
    pos = {k: i for i, k in enumerate(keys)}
    for a in keys:
        for b in keys:
            pa, pb = int.from_bytes(a[:4], "little"), int.from_bytes(b[:4], "little")
            da, db = int.from_bytes(a[4:], "big"), int.from_bytes(b[4:], "big")
            if pa < pb and (pa == 0 or (da ^ db) >> (16 - pa) == 0):
                assert pos[b] < pos[a]
    assert m.check_consistency() == []
