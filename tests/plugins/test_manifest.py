"""Manifest schema: each bad key gives one clear error naming the key path; packages."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pybpf.plugins import ManifestError, PluginError, PluginPackage
from pybpf.plugins.manifest import parse, schema, validate
from pybpf.plugins.operations import Mode

BASE: dict[str, Any] = {
    "id": "org.example.p",
    "version": "1.0",
    "bytecodes": {"x": {"object": "x.o", "operation": "hook", "mode": "replace"}},
}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for p in parents:
            d = d.setdefault(p, {})
        d[last] = value

    return apply


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for p in parents:
            d = d[p]
        del d[last]

    return apply


BAD: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("misspelt permissions", _set("bytecodes.x.permisions", ["read"]), "bytecodes.x.permisions", "unknown key"),
    ("misspelt top-level key", _set("jobs_plugins", {}), "jobs_plugins", "unknown key"),
    ("unknown memory key", _set("memory.heep", 1), "memory.heep", "unknown key"),
    ("unknown fields key", _set("bytecodes.x.fields.rw", []), "bytecodes.x.fields.rw", "unknown key"),
    (
        "bad mode",
        _set("bytecodes.x.mode", "replce"),
        "bytecodes.x.mode",
        "'replce' is not one of 'pre', 'replace', 'post'",
    ),
    ("bad scope", _set("scope", "global"), "scope", "'global' is not one of 'session', 'endpoint'"),
    ("missing id", _drop("id"), "id", "required key is missing"),
    ("missing object", _drop("bytecodes.x.object"), "bytecodes.x.object", "required key is missing"),
    (
        "unknown permission",
        _set("bytecodes.x.permissions", ["root"]),
        "bytecodes.x.permissions[0]",
        "'root' is not one of",
    ),
    ("sequence as string", _set("bytecodes.x.sequence", "1"), "bytecodes.x.sequence", "expected integer, got str '1'"),
    ("negative heap", _set("memory.heap", -1), "memory.heap", "-1 is less than the minimum of 0"),
    ("id with a space", _set("id", "has space"), "id", "does not match"),
    ("bytecode name", _set("bytecodes.bad name!", {}), "bytecodes.bad name!", "invalid name"),
    ("no bytecodes", _set("bytecodes", {}), "bytecodes", "should be non-empty"),
    ("object not .o", _set("bytecodes.x.object", "x.c"), "bytecodes.x.object", "does not match"),
    ("param negative", _set("bytecodes.x.param", -3), "bytecodes.x.param", "less than the minimum"),
    ("budget zero", _set("budget", 0), "budget", "less than the minimum of 1"),
    ("created op id", _set("operations", [{"name": "o", "id": -1}]), "operations[0].id", "less than the minimum"),
]


@pytest.mark.parametrize(("what", "mutate", "path", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_manifest_names_the_key(
    what: str, mutate: Callable[[dict[str, Any]], None], path: str, reason: str
) -> None:
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(ManifestError) as info:
        validate(data, "m.json")
    err = info.value
    assert err.path == path
    assert reason in err.reason
    assert str(err).startswith(f"m.json: {path}: ")
    assert "\n" not in str(err)  # one clear line


def test_semantic_errors() -> None:
    data = copy.deepcopy(BASE)
    data["bytecodes"]["y"] = dict(data["bytecodes"]["x"])
    with pytest.raises(
        ManifestError, match=r"bytecodes.y.sequence: bytecode 'x' already is the replace of hook at sequence 0"
    ):
        validate(data)
    data = copy.deepcopy(BASE)
    data["operations"] = [{"name": "a", "id": 1}, {"name": "a", "id": 2}]
    with pytest.raises(ManifestError, match=r"operations\[1\].name: operation 'a' is declared twice"):
        validate(data)
    with pytest.raises(ManifestError, match="not valid JSON"):
        parse("{", "m.json")


def test_good_manifest_is_typed() -> None:
    data = copy.deepcopy(BASE)
    data["bytecodes"]["x"].update(param=3, sequence=-2, permissions=["heap"], fields={"read": ["cwnd"]})
    data["memory"] = {"heap": 1024}
    m = validate(data)
    (b,) = m.bytecodes
    assert (b.param, b.sequence, b.mode, b.permissions, b.read_fields) == (
        3,
        -2,
        Mode.REPLACE,
        frozenset({"heap"}),
        ("cwnd",),
    )
    assert m.memory.heap == 1024 and m.memory.scratch == 4096 and m.scope == "session"


def test_schema_ships_with_the_package() -> None:
    assert schema()["title"] == "pybpf plugin manifest"


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_package_errors(tmp_path: Path) -> None:
    manifest = json.dumps(BASE).encode()
    with pytest.raises(PluginError, match="not a plugin zip file"):
        PluginPackage.from_zip(b"junk")
    with pytest.raises(PluginError, match=r"no manifest\.json"):
        PluginPackage.from_zip(_zip({"x.o": b""}))
    with pytest.raises(ManifestError, match=r"bytecodes.x.object: object file 'x.o' is not in the package"):
        PluginPackage.from_zip(_zip({"manifest.json": manifest}))
    with pytest.raises(PluginError, match=r"member '../evil.o' is not a plain relative path"):
        PluginPackage.from_zip(_zip({"manifest.json": manifest, "../evil.o": b""}))
    with pytest.raises(PluginError, match="no such plugin directory or zip file"):
        PluginPackage.open(tmp_path / "nothing")
    pkg = PluginPackage.from_zip(_zip({"manifest.json": manifest, "x.o": b"\x7fELF"}))
    again = PluginPackage.from_zip(pkg.to_zip())
    assert again.manifest == pkg.manifest and again.objects == {"x.o": b"\x7fELF"}


def test_to_zip_is_reproducible() -> None:
    """The same package gives the same bytes whenever it is written: fixed member dates."""
    pkg = PluginPackage.from_zip(_zip({"manifest.json": json.dumps(BASE).encode(), "x.o": b"\x7fELF"}))
    data = pkg.to_zip()
    infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    assert [i.filename for i in infos] == ["manifest.json", "x.o"]
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
    assert PluginPackage.from_zip(data).to_zip() == data


def test_bad_object_is_a_load_error() -> None:
    from .toyhost import make_host, new_session

    pkg = PluginPackage(validate(copy.deepcopy(BASE)), {"x.o": b"\x7fELF not really"})
    with pytest.raises(PluginError, match=r"plugin org\.example\.p: object x\.o:"):
        new_session(make_host()).insert(pkg)
