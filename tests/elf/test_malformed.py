"""Bad or hostile objects end with one clean pybpf error naming the section or symbol."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.elf.loader import open_object
from pybpf.errors import PybpfError

OBJECTS = Path(__file__).resolve().parent.parent / "bpf"
GOOD = (OBJECTS / "globals.o").read_bytes()
MAPS = (OBJECTS / "maps.o").read_bytes()
CONTROL = (OBJECTS / "control.o").read_bytes()


class Elf:
    """Just enough ELF64 knowledge to corrupt specific fields."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.shoff = struct.unpack_from("<Q", data, 0x28)[0]
        self.shnum = struct.unpack_from("<H", data, 0x3C)[0]
        shstrndx = struct.unpack_from("<H", data, 0x3E)[0]
        self.names: dict[str, int] = {}
        strtab_off = self.header(shstrndx)[4]
        for i in range(self.shnum):
            name_off = self.header(i)[0]
            end = self.data.index(b"\0", strtab_off + name_off)
            self.names[self.data[strtab_off + name_off : end].decode()] = i

    def header(self, i: int) -> tuple[int, ...]:
        return struct.unpack_from("<IIQQQQIIQQ", self.data, self.shoff + 64 * i)

    def set_header_field(self, i: int, field: int, value: int) -> None:
        fmt = "<IIQQQQIIQQ"
        offsets = [0, 4, 8, 16, 24, 32, 40, 44, 48, 56]
        size = struct.calcsize("<" + fmt[1 + field])
        struct.pack_into("<" + fmt[1 + field], self.data, self.shoff + 64 * i + offsets[field], value)
        assert size

    def section(self, name: str) -> tuple[int, int]:
        h = self.header(self.names[name])
        return h[4], h[5]  # offset, size

    def symbols(self) -> list[tuple[int, str, int, int, int, int]]:
        off, size = self.section(".symtab")
        strtab = self.section(".strtab")[0]
        out = []
        for k in range(size // 24):
            name, info, _other, shndx, value, sz = struct.unpack_from("<IBBHQQ", self.data, off + 24 * k)
            end = self.data.index(b"\0", strtab + name)
            out.append((k, self.data[strtab + name : end].decode(), info, shndx, value, sz))
        return out

    def patch_symbol(self, name: str, **fields: int) -> None:
        off, _ = self.section(".symtab")
        for k, sname, *_ in self.symbols():
            if sname == name:
                base = off + 24 * k
                if "shndx" in fields:
                    struct.pack_into("<H", self.data, base + 6, fields["shndx"])
                if "value" in fields:
                    struct.pack_into("<Q", self.data, base + 8, fields["value"])
                if "size" in fields:
                    struct.pack_into("<Q", self.data, base + 16, fields["size"])
                return
        raise KeyError(name)

    def patch_rel(
        self, section: str, index: int, *, offset: int | None = None, sym: int | None = None, rtype: int | None = None
    ) -> None:
        off, _ = self.section(section)
        base = off + 16 * index
        r_offset, r_info = struct.unpack_from("<QQ", self.data, base)
        if offset is not None:
            r_offset = offset
        if sym is not None:
            r_info = (sym << 32) | (r_info & 0xFFFFFFFF)
        if rtype is not None:
            r_info = (r_info & ~0xFFFFFFFF) | rtype
        struct.pack_into("<QQ", self.data, base, r_offset, r_info)


def corrupt(data: bytes, fn: Callable[[Elf], None]) -> bytes:
    e = Elf(data)
    fn(e)
    return bytes(e.data)


def put(offset: int, raw: bytes) -> Callable[[Elf], None]:
    def fn(e: Elf) -> None:
        e.data[offset : offset + len(raw)] = raw

    return fn


def first_code_offset(e: Elf, section: str) -> int:
    return e.section(section)[0]


CASES: list[tuple[str, bytes, str]] = [
    ("empty file", b"", "too short"),
    ("truncated header", GOOD[:20], "too short"),
    ("bad magic", b"\x7fELG" + GOOD[4:], "bad magic"),
    ("32-bit class", GOOD[:4] + b"\x01" + GOOD[5:], "64-bit"),
    ("big endian", GOOD[:5] + b"\x02" + GOOD[6:], "little-endian"),
    ("executable not relocatable", corrupt(GOOD, put(16, struct.pack("<H", 2))), "ET_REL"),
    ("x86-64 machine", corrupt(GOOD, put(18, struct.pack("<H", 62))), "not BPF"),
    ("truncated in the middle", GOOD[: len(GOOD) // 2], ""),
    ("section headers past the end", corrupt(GOOD, put(0x28, struct.pack("<Q", len(GOOD) + 4096))), ""),
    ("section count huge", corrupt(GOOD, put(0x3C, struct.pack("<H", 0xFFF0))), ""),
    ("stripped symbol table", corrupt(GOOD, lambda e: e.set_header_field(e.names[".symtab"], 1, 1)), "no symbol table"),
    ("section data past end of file", corrupt(GOOD, lambda e: e.set_header_field(e.names["syscall"], 5, 1 << 30)), ""),
    ("program size not a multiple of 8", corrupt(GOOD, lambda e: e.patch_symbol("strings", size=13)), "strings"),
    (
        "program past the section end",
        corrupt(GOOD, lambda e: e.patch_symbol("read_input", value=1 << 20)),
        "read_input",
    ),
    (
        "invalid opcode in a program",
        corrupt(GOOD, lambda e: e.data.__setitem__(first_code_offset(e, "syscall"), 0xFF)),
        "data_sum",
    ),
    (
        "relocation symbol past the symtab",
        corrupt(GOOD, lambda e: e.patch_rel(".relsyscall", 0, sym=10_000)),
        "past the symbol table",
    ),
    (
        "relocation offset unaligned",
        corrupt(GOOD, lambda e: e.patch_rel(".relsyscall", 0, offset=3)),
        "not instruction-aligned",
    ),
    (
        "relocation past the section end",
        corrupt(GOOD, lambda e: e.patch_rel(".relsyscall", 0, offset=1 << 20)),
        "past the section end",
    ),
    (
        "relocation on a non-lddw instruction",
        corrupt(GOOD, lambda e: e.patch_rel(".relsyscall", 0, offset=8 * 29)),
        "neither lddw nor call",
    ),
    ("relocation to a symbol in no section", corrupt(GOOD, lambda e: e.patch_symbol("counter", shndx=0)), "'counter'"),
    ("relocation to a missing section", corrupt(GOOD, lambda e: e.patch_symbol("counter", shndx=500)), "counter"),
    (
        "BTF garbage",
        corrupt(
            GOOD,
            lambda e: e.data.__setitem__(slice(e.section(".BTF")[0] + 24, e.section(".BTF")[0] + 64), b"\xff" * 40),
        ),
        ".BTF",
    ),
    (
        "BTF bad magic",
        corrupt(GOOD, lambda e: e.data.__setitem__(slice(e.section(".BTF")[0], e.section(".BTF")[0] + 2), b"\x00\x00")),
        "magic",
    ),
    ("version section of wrong size", corrupt(GOOD, lambda e: e.set_header_field(e.names["license"], 5, 3)), ""),
    (".rel.maps of the wrong type", corrupt(MAPS, lambda e: e.patch_rel(".rel.maps", 0, rtype=1)), "R_BPF_64_ABS64"),
    (".rel.maps outside the values array", corrupt(MAPS, lambda e: e.patch_rel(".rel.maps", 0, offset=0)), ".rel.maps"),
    (
        "prog array slot pointing at a map",
        corrupt(
            CONTROL, lambda e: e.patch_rel(".rel.maps", 0, sym=next(s[0] for s in e.symbols() if s[1] == "values"))
        ),
        "not an entry program",
    ),
]


@pytest.mark.parametrize(("data", "message"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_object_gives_clean_error(data: bytes, message: str) -> None:
    with pytest.raises(PybpfError) as info:
        open_object(data, name="bad.o", helpers={"bpf_loop": 181}.get)
    assert message in str(info.value)


def test_at_least_twenty_distinct_corruptions() -> None:
    assert len({c[0] for c in CASES}) >= 20


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from([GOOD, MAPS, CONTROL]),
    cut=st.integers(0, 100_000),
    flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 7)), max_size=8),
)
def test_fuzz_truncated_and_bit_flipped(source: bytes, cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(source[: min(cut, len(source))] if cut < len(source) else source)
    for pos, bit in flips:
        if data:
            data[pos % len(data)] ^= 1 << bit
    try:
        open_object(bytes(data), name="fuzz.o", helpers={"bpf_loop": 181}.get)
    except PybpfError:
        pass
