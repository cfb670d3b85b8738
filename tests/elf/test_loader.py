"""Opening clang-built objects: programs, sub-program linking, relocations, map descriptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.elf.loader import PSEUDO_FUNC, PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE, open_object
from pybpf.isa.opcodes import Kind
from pybpf.progtypes.sections import ProgType, prog_type_for_section

OBJECTS = Path(__file__).resolve().parent.parent / "bpf"
VARIANTS = ["", ".v3", ".v4"]
HELPERS = {"bpf_loop": 181}.get  # control.c calls no extern functions


def load(name: str, variant: str = ""):  # type: ignore[no-untyped-def]
    return open_object(OBJECTS / f"{name}{variant}.o", helpers=HELPERS)


@pytest.mark.parametrize("variant", VARIANTS)
def test_several_programs_per_section_and_types(variant: str) -> None:
    obj = load("globals", variant)
    assert [(p.name, p.section, p.prog_type) for p in obj.programs] == [
        ("data_sum", "syscall", ProgType.SYSCALL),
        ("strings", "syscall", ProgType.SYSCALL),
        ("read_input", "syscall", ProgType.SYSCALL),
    ]
    assert obj.license == "GPL"
    assert set(obj.subprograms) == {"add_static", "mul_global", "str_len"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_global_data_sections_become_single_entry_arrays(variant: str) -> None:
    obj = load("globals", variant)
    data = {m.name: m for m in obj.maps if m.source == "data"}
    assert set(data) >= {".data", ".rodata", ".bss", ".data.custom", ".rodata.str1.1"}
    for m in data.values():
        assert (m.map_type, m.key_size, m.max_entries) == (2, 4, 1)
        assert m.initial is not None and len(m.initial) == m.value_size
    assert data[".rodata"].read_only and not data[".data"].read_only
    assert data[".bss"].initial == bytes(data[".bss"].value_size)
    assert data[".data"].initial[:4] == (40).to_bytes(4, "little")
    assert data[".data.custom"].initial == (1000).to_bytes(4, "little")
    assert b"abcdefg\0" in data[".rodata.str1.1"].initial


@pytest.mark.parametrize("variant", VARIANTS)
def test_subprograms_are_linked_once_per_entry(variant: str) -> None:
    obj = load("globals", variant)
    strings = obj.program("strings")
    assert set(strings.subprograms) == {"str_len", "mul_global"}
    read_input = obj.program("read_input")
    assert set(read_input.subprograms) == {"mul_global", "add_static"}
    for prog in obj.programs:
        for i, insn in enumerate(prog.insns):
            if insn.opcode == 0x85 and insn.src == 1:
                target = i + 1 + insn.imm
                assert any(start == target for start, _ in prog.subprograms.values()), (prog.name, i)


@pytest.mark.parametrize("variant", VARIANTS)
def test_map_and_data_references_are_rewritten(variant: str) -> None:
    obj = load("maps", variant)
    prog = obj.program("count_flow")
    refs = [(i, insn) for i, insn in enumerate(prog.insns) if insn.opcode == 0x18 and insn.src == PSEUDO_MAP_IDX]
    assert refs and all(obj.maps[insn.imm].name == "flows" for _, insn in refs)
    g = load("globals", variant)
    data_refs = [
        insn for p in g.programs for insn in p.insns if insn.opcode == 0x18 and insn.src == PSEUDO_MAP_IDX_VALUE
    ]
    assert {g.maps[i.imm].name for i in data_refs} >= {".data", ".rodata", ".bss", ".rodata.str1.1"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_callbacks_become_function_addresses(variant: str) -> None:
    obj = load("control", variant)
    prog = obj.program("loop_sum")
    funcs = [(i, insn) for i, insn in enumerate(prog.insns) if insn.opcode == 0x18 and insn.src == PSEUDO_FUNC]
    assert len(funcs) == 1
    i, insn = funcs[0]
    assert prog.subprograms["add_index"][0] == i + 1 + insn.imm


@pytest.mark.parametrize("variant", VARIANTS)
def test_btf_maps_with_initialisers(variant: str) -> None:
    obj = load("maps", variant)
    maps = {m.name: m for m in obj.maps}
    assert (maps["flows"].map_type, maps["flows"].key_size, maps["flows"].value_size, maps["flows"].max_entries) == (
        1,
        8,
        16,
        64,
    )
    assert maps["routes"].map_flags == 1  # BPF_F_NO_PREALLOC
    assert maps["outer_arr"].inner is not None and maps["outer_arr"].inner.map_type == 2
    assert maps["outer_arr"].slot_init == {0: "inner_a", 1: "inner_b"}
    assert maps["outer_hash"].slot_init == {1: "inner_b"}
    assert maps["events"].max_entries == 4096 and maps["events"].map_type == 27
    ctl = {m.name: m for m in load("control", variant).maps}
    assert ctl["jumps"].slot_init == {1: "tail_one", 2: "tail_two"}
    assert ctl["pinned_counts"].pinning == 1


EXTERN_C = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
extern long host_double(long x);
SEC("syscall") int use_host(void *ctx) { return host_double(21); }
char _license[] SEC("license") = "GPL";
"""


def test_extern_calls_resolve_by_name(tmp_path: Path) -> None:
    from pybpf.errors import ElfError
    from pybpf.toolchain import compile_bpf

    src = tmp_path / "ext.c"
    src.write_text(EXTERN_C)
    obj_path = compile_bpf(src, tmp_path / "ext.o")
    obj = open_object(obj_path, helpers={"host_double": 1234}.get)
    calls = [i for i in obj.program("use_host").insns if i.opcode == 0x85]
    assert [(c.src, c.imm) for c in calls] == [(0, 1234)]
    with pytest.raises(ElfError) as info:
        open_object(obj_path, helpers=lambda name: None)
    assert "'host_double', which is not a known helper" in str(info.value)
    assert "use_host" in str(info.value)


def test_program_lookup_errors() -> None:
    from pybpf.errors import ElfError, PybpfError

    obj = load("globals")
    with pytest.raises(ElfError, match="holds several programs"):
        obj.program("syscall")
    with pytest.raises(PybpfError, match="no program or section 'nope'"):
        obj.program("nope")


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("xdp", ProgType.XDP),
        ("xdp.frags", ProgType.XDP),
        ("tc", ProgType.SCHED_CLS),
        ("classifier", ProgType.SCHED_CLS),
        ("tc/ingress", ProgType.SCHED_CLS),
        ("socket", ProgType.SOCKET_FILTER),
        ("kprobe/do_sys_open", ProgType.KPROBE),
        ("kprobe", ProgType.KPROBE),
        ("kprobe_foo", None),
        ("uprobe/lib:fn", ProgType.KPROBE),
        ("tracepoint/syscalls/sys_enter_open", ProgType.TRACEPOINT),
        ("struct_ops/cc_init", ProgType.STRUCT_OPS),
        ("?xdp", ProgType.XDP),
        ("pybpf/cc/on_ack", ProgType.PYBPF_PLUGIN),
        ("unknown", None),
    ],
)
def test_section_names(section: str, expected: ProgType | None) -> None:
    assert prog_type_for_section(section) == expected


def test_disassembly_annotations_name_maps_and_functions() -> None:
    obj = load("globals")
    prog = obj.program("data_sum")
    notes = set(prog.notes.values())
    assert {"counter", "scale"} & notes
    assert any(n in notes for n in ("add_static", "mul_global"))
    assert all(insn.form is not None or prog.insns[i - 1].form.kind is Kind.LDDW for i, insn in enumerate(prog.insns))
