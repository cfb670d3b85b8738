"""LPM_TRIE: longest-prefix-match maps (``kernel/bpf/lpm_trie.c`` semantics, node for node).

Keys are ``struct bpf_lpm_trie_key``: a u32 ``prefixlen`` (host order) followed by ``data_size =
key_size - 4`` bytes of data in network order; ``max_prefixlen = 8 * data_size``.  The map must be
created with ``BPF_F_NO_PREALLOC`` (``-EINVAL`` otherwise), like the kernel; pybpf still
preallocates ``2 * max_entries`` nodes, enough for every entry plus the intermediate nodes
(each has exactly two children, so there are fewer of them than entries).

Layout after the 256-byte header:

==========================  =======================================================
state word (offset)         meaning
==========================  =======================================================
192 u32 root                root node (slot number, 0 = empty trie)
196 u32 n_entries           real (non-intermediate) nodes
200 u32 free_head           recycled nodes, linked through ``child[0]``
204 u32 bump                nodes [bump, n_slots) have never been used
208 u32 n_slots             ``2 * max_entries``
==========================  =======================================================

* nodes at 256, ``n_slots x (16 + round8(data_size))``: u32 ``child[0]``, u32 ``child[1]``,
  u32 ``prefixlen``, u32 ``flags`` (bit 0: intermediate node), then the data bytes;
* values at ``256 + n_slots*ns``: ``n_slots x round8(value_size)``, the program-visible area.

The trie algorithms (insert with intermediate nodes, delete with intermediate-node collapse,
lookup of the longest non-intermediate match, ``get_next_key`` in post-order so more specific
prefixes come first) follow the kernel; these results are what the project notes specify (the
kernel before 6.13): update flags above ``BPF_EXIST`` are ``-EINVAL`` and otherwise act like
``BPF_ANY``; an update on a trie holding ``max_entries`` entries is ``-ENOSPC`` even when it
would replace; a prefixlen above ``max_prefixlen`` is ``-EINVAL`` for update/delete and NULL for
lookup; delete needs the exact prefix (``-ENOENT`` otherwise).  Replacing an entry copies the new
key data and value into the existing node (the kernel swaps in a new node).
"""

from __future__ import annotations

import errno
import ipaddress
import struct
from typing import Any

from pybpf.maps.base import HEADER_SIZE, STATE, MapSpec, Plan, access_flags_ok, fail_create, hexbytes, round8
from pybpf.maps.codec import Codec
from pybpf.maps.constants import (
    BPF_EXIST,
    BPF_F_ACCESS_MASK,
    BPF_F_NO_PREALLOC,
    BPF_F_NUMA_NODE,
    BPF_F_RDONLY_PROG,
    KMALLOC_MAX_SIZE,
    MapType,
)
from pybpf.maps.host import KeyedMap

S_ROOT = STATE
S_COUNT = STATE + 4
S_FREE = STATE + 8
S_BUMP = STATE + 12
S_SLOTS = STATE + 16
NODE_META = 16
FLAG_IM = 1

LPM_DATA_SIZE_MAX = 256
LPM_DATA_SIZE_MIN = 1
LPM_KEY_SIZE_MIN = 4 + LPM_DATA_SIZE_MIN
LPM_KEY_SIZE_MAX = 4 + LPM_DATA_SIZE_MAX
LPM_VAL_SIZE_MAX = KMALLOC_MAX_SIZE - LPM_DATA_SIZE_MAX - 24
LPM_CREATE_FLAG_MASK = BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK

_IIII = struct.Struct("<IIII")
_II = struct.Struct("<II")


class LpmTrieMap(KeyedMap):
    """BPF_MAP_TYPE_LPM_TRIE."""

    map_type = MapType.LPM_TRIE

    @classmethod
    def validate(cls, spec: MapSpec) -> None:
        flags = spec.map_flags
        if spec.max_entries == 0:
            fail_create(spec, -errno.EINVAL, "max_entries must be non-zero")
        if not flags & BPF_F_NO_PREALLOC:
            fail_create(spec, -errno.EINVAL, "LPM_TRIE maps must be created with BPF_F_NO_PREALLOC")
        if flags & ~LPM_CREATE_FLAG_MASK or not access_flags_ok(flags):
            fail_create(spec, -errno.EINVAL, f"map_flags 0x{flags:x} not valid for LPM_TRIE")
        if not LPM_KEY_SIZE_MIN <= spec.key_size <= LPM_KEY_SIZE_MAX:
            fail_create(spec, -errno.EINVAL, f"key_size must be 4 + 1..256 bytes of data, got {spec.key_size}")
        if not 1 <= spec.value_size <= LPM_VAL_SIZE_MAX:
            fail_create(spec, -errno.EINVAL, f"value_size {spec.value_size} out of range")

    @classmethod
    def plan(cls, spec: MapSpec, ncpus: int) -> Plan:
        n_slots = 2 * spec.max_entries
        ns = NODE_META + round8(spec.key_size - 4)
        vo = HEADER_SIZE + n_slots * ns
        vs = round8(spec.value_size)
        size = vo + n_slots * vs
        return {"size": size, "vis_lo": vo, "vis_hi": size, "n_slots": n_slots, "ns": ns, "vo": vo, "vs": vs}

    def _attach(self, plan: Plan) -> None:
        self._slots_n = plan["n_slots"]
        self._ns = plan["ns"]
        self._vo = plan["vo"]
        self._vs = plan["vs"]
        self._ds = self.key_size - 4
        self._bits = 8 * self._ds

    def _format(self) -> None:
        self._set32(S_SLOTS, self._slots_n)

    # -- node access (lock held) -----------------------------------------------------------------------------
    def _noff(self, slot: int) -> int:
        return HEADER_SIZE + (slot - 1) * self._ns

    def _voff(self, slot: int) -> int:
        return self._vo + (slot - 1) * self._vs

    def _meta(self, slot: int) -> tuple[int, int, int, int]:
        c0, c1, pl, fl = _IIII.unpack_from(self._buf, self._noff(slot))
        return int(c0), int(c1), int(pl), int(fl)

    def _data(self, slot: int) -> int:
        o = self._noff(slot) + NODE_META
        return int.from_bytes(self._buf[o : o + self._ds], "big")

    def _child(self, slot: int, bit: int) -> int:
        return self._get32(self._noff(slot) + 4 * bit)

    def _match(self, node_pl: int, node_data: int, key_pl: int, key_data: int) -> int:
        """``longest_prefix_match``: leading bits equal, at most min(prefix lengths)."""
        limit = min(node_pl, key_pl)
        if limit == 0:
            return 0
        diff = (node_data ^ key_data) >> (self._bits - limit)
        return limit if not diff else limit - diff.bit_length()

    def _bit(self, data: int, index: int) -> int:
        """``extract_bit``: bit ``index`` counted from the most significant bit of the data."""
        return (data >> (self._bits - 1 - index)) & 1

    def _alloc(self) -> int:
        free = self._get32(S_FREE)
        if free:
            self._set32(S_FREE, self._child(free, 0))
            return free
        bump = self._get32(S_BUMP)
        if bump < self._slots_n:
            self._set32(S_BUMP, bump + 1)
            return bump + 1
        return 0

    def _free(self, slot: int) -> None:
        _IIII.pack_into(self._buf, self._noff(slot), self._get32(S_FREE), 0, 0, 0)
        self._set32(S_FREE, slot)

    def _write_node(self, slot: int, c0: int, c1: int, pl: int, flags: int, data: bytes) -> None:
        o = self._noff(slot)
        _IIII.pack_into(self._buf, o, c0, c1, pl, flags)
        self._buf[o + NODE_META : o + NODE_META + self._ds] = data

    def _split(self, key: bytes) -> tuple[int, bytes, int]:
        return int.from_bytes(key[:4], "little"), key[4:], int.from_bytes(key[4:], "big")

    def _key_of(self, slot: int) -> bytes:
        o = self._noff(slot)
        return bytes(self._buf[o + 8 : o + 12]) + bytes(self._buf[o + NODE_META : o + NODE_META + self._ds])

    # -- the trie algorithms (lock held) ------------------------------------------------------------------------
    def _lookup_slot(self, key: bytes) -> int:
        pl, _, kd = self._split(key)
        if pl > self._bits:
            return 0
        found = 0
        node = self._get32(S_ROOT)
        while node:
            c0, c1, npl, fl = self._meta(node)
            m = self._match(npl, self._data(node), pl, kd)
            if m == self._bits:
                return node
            if m < npl:
                break
            if not fl & FLAG_IM:
                found = node
            node = c1 if self._bit(kd, npl) else c0
        return found

    def _update(self, key: bytes, value: bytes) -> int:
        pl, raw, kd = self._split(key)
        n_entries = self._get32(S_COUNT)
        if n_entries == self.max_entries:
            return -errno.ENOSPC
        ref = S_ROOT
        node = self._get32(ref)
        npl = fl = m = nd = 0
        while node:
            _, _, npl, fl = self._meta(node)
            nd = self._data(node)
            m = self._match(npl, nd, pl, kd)
            if npl != m or npl == pl or npl == self._bits:
                break
            ref = self._noff(node) + 4 * self._bit(kd, npl)
            node = self._get32(ref)
        if node and npl == m:
            # Replace: the existing node (real or intermediate) takes the new key data and value.
            o = self._noff(node)
            self._buf[self._voff(node) : self._voff(node) + self.value_size] = value
            self._buf[o + NODE_META : o + NODE_META + self._ds] = raw
            if fl & FLAG_IM:
                self._set32(o + 12, 0)
                self._set32(S_COUNT, n_entries + 1)
            return 0
        new = self._alloc()
        im = self._alloc() if new and node and m != pl else 0
        if not new or (node and m != pl and not im):
            for slot in (new, im):
                if slot:
                    self._free(slot)
            return -errno.ENOMEM
        self._buf[self._voff(new) : self._voff(new) + self.value_size] = value
        if not node:
            self._write_node(new, 0, 0, pl, 0, raw)
            self._set32(ref, new)
        elif m == pl:
            # The new prefix covers the existing node: insert it above.
            bit = self._bit(nd, m)
            self._write_node(new, node if bit == 0 else 0, node if bit == 1 else 0, pl, 0, raw)
            self._set32(ref, new)
        else:
            self._write_node(new, 0, 0, pl, 0, raw)
            o = self._noff(node) + NODE_META
            pair = (node, new) if self._bit(kd, m) else (new, node)
            self._write_node(im, pair[0], pair[1], m, FLAG_IM, bytes(self._buf[o : o + self._ds]))
            self._set32(ref, im)
        self._set32(S_COUNT, n_entries + 1)
        return 0

    def _delete(self, key: bytes) -> int:
        pl, _, kd = self._split(key)
        trim = trim2 = S_ROOT
        parent = 0
        node = self._get32(trim)
        c0 = c1 = npl = fl = m = 0
        while node:
            c0, c1, npl, fl = self._meta(node)
            m = self._match(npl, self._data(node), pl, kd)
            if npl != m or npl == pl:
                break
            parent = node
            trim2 = trim
            trim = self._noff(node) + 4 * self._bit(kd, npl)
            node = self._get32(trim)
        if not node or npl != pl or npl != m or fl & FLAG_IM:
            return -errno.ENOENT
        self._set32(S_COUNT, self._get32(S_COUNT) - 1)
        if c0 and c1:
            self._set32(self._noff(node) + 12, fl | FLAG_IM)
            return 0
        if parent and not c0 and not c1:
            p0, p1, _, pfl = self._meta(parent)
            if pfl & FLAG_IM:
                self._set32(trim2, p1 if p0 == node else p0)
                self._free(parent)
                self._free(node)
                return 0
        self._set32(trim, c0 or c1)
        self._free(node)
        return 0

    def _leftmost(self, node: int) -> int:
        found = 0
        while node:
            c0, c1, _, fl = self._meta(node)
            if fl & FLAG_IM:
                node = c0
            else:
                found = node
                node = c0 or c1
        return found

    def _next_key(self, key: bytes | None) -> tuple[int, bytes]:
        root = self._get32(S_ROOT)
        if not root:
            return -errno.ENOENT, b""
        if key is None or len(key) != self.key_size or int.from_bytes(key[:4], "little") > self._bits:
            return 0, self._key_of(self._leftmost(root))
        pl, _, kd = self._split(key)
        stack: list[int] = []
        node = root
        npl = fl = 0
        while node:
            stack.append(node)
            c0, c1, npl, fl = self._meta(node)
            m = self._match(npl, self._data(node), pl, kd)
            if npl != m or npl == pl:
                break
            node = c1 if self._bit(kd, npl) else c0
        if not node or npl != pl or fl & FLAG_IM:
            return 0, self._key_of(self._leftmost(root))
        node = stack[-1]
        for parent in reversed(stack[:-1]):
            p0, p1, _, pfl = self._meta(parent)
            if p0 == node and p1:
                return 0, self._key_of(self._leftmost(p1))
            if not pfl & FLAG_IM:
                return 0, self._key_of(parent)
            node = parent
        return -errno.ENOENT, b""

    def _postorder(self) -> list[int]:
        """Real nodes in get_next_key order (children first, child[0] before child[1])."""
        out: list[int] = []
        root = self._get32(S_ROOT)
        stack: list[tuple[int, bool]] = [(root, False)] if root else []
        while stack and len(out) <= self._slots_n:
            node, expanded = stack.pop()
            c0, c1, _, fl = self._meta(node)
            if expanded:
                if not fl & FLAG_IM:
                    out.append(node)
                continue
            stack.append((node, True))
            stack.extend((c, False) for c in (c1, c0) if c)
        return out

    # -- program-facing --------------------------------------------------------------------------------------
    def lookup(self, key: bytes) -> int:
        if len(key) != self.key_size:
            return 0
        with self._rguard:
            slot = self._lookup_slot(key)
        return self._base + self._voff(slot) if slot else 0

    def update(self, key: bytes, value: bytes, flags: int = 0) -> int:
        if self.map_flags & BPF_F_RDONLY_PROG:
            return -errno.EPERM
        return self._checked_update(key, value, flags)

    def _checked_update(self, key: bytes, value: bytes, flags: int) -> int:
        if flags > BPF_EXIST or flags < 0:
            return -errno.EINVAL
        if len(key) != self.key_size or len(value) != self.value_size:
            return -errno.EINVAL
        if int.from_bytes(key[:4], "little") > self._bits:
            return -errno.EINVAL
        with self._wguard:
            return self._update(key, value)

    def delete(self, key: bytes) -> int:
        if len(key) != self.key_size or int.from_bytes(key[:4], "little") > self._bits:
            return -errno.EINVAL
        with self._wguard:
            return self._delete(key)

    def get_next_key(self, key: bytes | None) -> tuple[int, bytes]:
        with self._rguard:
            return self._next_key(key)

    # -- host ----------------------------------------------------------------------------------------------------
    def _encode_key(self, obj: Any, codec: Codec) -> bytes:
        """Also accepts ``(prefixlen, data)`` (data: bytes, int or IP address) and ``ipaddress`` networks."""
        if isinstance(obj, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            obj = (obj.prefixlen, obj.network_address)
        if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], int):
            prefixlen, data = obj
            if isinstance(data, str):
                data = ipaddress.ip_address(data)
            if isinstance(data, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
                data = data.packed
            if isinstance(data, int):
                data = data.to_bytes(self._ds, "big")
            if len(data) != self._ds:
                raise ValueError(f"prefix data is {len(data)} bytes, the trie has {self._ds}")
            return int(prefixlen).to_bytes(4, "little") + bytes(data)
        return codec.encode(obj, self.key_size)

    def _host_lookup(self, key: bytes) -> Any | None:
        with self._rguard:
            slot = self._lookup_slot(key)
            return bytes(self._buf[self._voff(slot) : self._voff(slot) + self.value_size]) if slot else None

    def _host_update(self, key: bytes, value: Any, flags: int) -> int:
        return self._checked_update(key, value, flags)

    def _host_delete(self, key: bytes) -> int:
        return self.delete(key)

    def _host_keys(self) -> list[bytes]:
        with self._rguard:
            return [self._key_of(s) for s in self._postorder()]

    def _host_len(self) -> int:
        return self._get32(S_COUNT)

    def _host_clear(self) -> None:
        with self._wguard:
            for off in (S_ROOT, S_COUNT, S_FREE, S_BUMP):
                self._set32(off, 0)

    def _explain(self, op: str, err: int, flags: int = 0) -> str:
        e = abs(err)
        if op == "update" and e == errno.ENOSPC:
            return f"trie is full, max_entries {self.max_entries}"
        if e == errno.EINVAL and op in ("update", "delete"):
            return f"flags 0x{flags:x} or prefixlen above {self._bits} not valid"
        return super()._explain(op, err, flags)

    # -- repair and checks ----------------------------------------------------------------------------------------
    def _walk(self) -> tuple[list[int], list[str]]:
        """Every reachable node and structural problems (IM nodes without two children, bad prefixes)."""
        problems: list[str] = []
        reachable: list[int] = []
        seen: set[int] = set()
        bump = self._get32(S_BUMP)
        root = self._get32(S_ROOT)
        stack: list[tuple[int, int]] = [(root, -1)] if root else []
        while stack:
            node, parent_pl = stack.pop()
            if node > bump or node in seen:
                problems.append(f"node {node} out of range or reached twice")
                continue
            seen.add(node)
            reachable.append(node)
            c0, c1, pl, fl = self._meta(node)
            if pl <= parent_pl or pl > self._bits:
                problems.append(f"node {node}: prefixlen {pl} not below its parent's {parent_pl}")
            if fl & FLAG_IM and not (c0 and c1):
                problems.append(f"intermediate node {node} without two children")
            stack.extend((c, pl) for c in (c0, c1) if c)
        return reachable, problems

    def _repair(self) -> None:
        reachable, _ = self._walk()
        used = set(reachable)
        bump = min(self._get32(S_BUMP), self._slots_n)
        free = 0
        for slot in range(bump, 0, -1):
            if slot not in used:
                _IIII.pack_into(self._buf, self._noff(slot), free, 0, 0, 0)
                free = slot
        self._set32(S_FREE, free)
        self._set32(S_COUNT, sum(1 for s in reachable if not self._meta(s)[3] & FLAG_IM))

    def check_consistency(self) -> list[str]:
        with self._rguard:
            reachable, problems = self._walk()
            real = sum(1 for s in reachable if not self._meta(s)[3] & FLAG_IM)
            if real != self._get32(S_COUNT):
                problems.append(f"n_entries {self._get32(S_COUNT)} but {real} real nodes")
            return problems

    def _dump_rows(self) -> list[tuple[str, str]]:
        with self._rguard:
            rows = []
            for s in self._postorder():
                key = self._key_of(s)
                value = bytes(self._buf[self._voff(s) : self._voff(s) + self.value_size])
                rows.append((f"{hexbytes(key[4:])}/{int.from_bytes(key[:4], 'little')}", self.value_text(value)))
            return rows
