"""Plugin manifests: JSON validated against ``manifest.schema.json``, then typed.

The schema ships with pybpf and is checked with the ``jsonschema`` library; the first problem is
reported as one :class:`ManifestError` naming the key path (``bytecodes.on_ack.mode``) and what is
wrong with it.  Checks a schema cannot express (two bytecodes at the same place and sequence,
duplicate created operations) follow, with the same style of message.  Whether operations and
fields exist is checked against the host when the plugin is inserted.

See ``docs/plugins.md`` for the format.
"""

from __future__ import annotations

import functools
import importlib
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from pybpf.plugins.faults import PluginError
from pybpf.plugins.memory import MemorySizes
from pybpf.plugins.operations import Mode

DEFAULT_BUDGET = 1_000_000


class ManifestError(PluginError):
    """A manifest that does not follow the schema; ``path`` is the offending key path."""

    def __init__(self, source: str, path: str, reason: str) -> None:
        self.source = source
        self.path = path
        self.reason = reason
        super().__init__(f"{source}: {path or '(top level)'}: {reason}")


@dataclass(frozen=True)
class BytecodeEntry:
    name: str
    object: str
    section: str | None
    operation: str
    param: int | None
    mode: Mode
    sequence: int
    permissions: frozenset[str]
    read_fields: tuple[str, ...]
    write_fields: tuple[str, ...]


@dataclass(frozen=True)
class OperationEntry:
    name: str
    id: int
    inputs: int
    outputs: int
    parametrised: bool


@dataclass(frozen=True)
class Manifest:
    id: str
    version: str
    scope: str
    budget: int
    memory: MemorySizes
    bytecodes: tuple[BytecodeEntry, ...]
    operations: tuple[OperationEntry, ...] = ()
    sources: tuple[str, ...] = ()
    cflags: tuple[str, ...] = ()
    cpu: str = ""
    description: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def objects(self) -> list[str]:
        """Object files the bytecodes use, in first-use order."""
        return list(dict.fromkeys(b.object for b in self.bytecodes))


@functools.cache
def schema() -> dict[str, Any]:
    text = resources.files("pybpf.plugins").joinpath("manifest.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.cache
def _validator() -> Any:
    # jsonschema ships no type information; imported by name so that mypy --strict needs no stubs.
    validators = importlib.import_module("jsonschema.validators")
    cls = validators.validator_for(schema())
    cls.check_schema(schema())
    return cls(schema())


def _path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _describe(error: Any) -> tuple[str, str]:
    """(key path, reason) for one schema error, phrased around the key at fault."""
    path = _path(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra and error.schema.get("properties"):
            key = extra[0]
            known = ", ".join(sorted(allowed))
            return (f"{path}.{key}" if path else key), f"unknown key (allowed: {known})"
    if kind == "required" and isinstance(error.validator_value, list):
        missing = [k for k in error.validator_value if isinstance(error.instance, dict) and k not in error.instance]
        if missing:
            return (f"{path}.{missing[0]}" if path else missing[0]), "required key is missing"
    if "propertyNames" in error.schema_path:
        return (
            f"{path}.{error.instance}",
            "invalid name (use letters, digits, '_', '.', '-'; start with a letter or '_')",
        )
    if kind == "enum":
        choices = ", ".join(repr(c) for c in error.validator_value)
        return path, f"{error.instance!r} is not one of {choices}"
    if kind == "type":
        return path, f"expected {error.validator_value}, got {type(error.instance).__name__} {error.instance!r}"
    return path, error.message


def validate(data: Any, source: str = "manifest") -> Manifest:
    """Check ``data`` (parsed JSON) and return the typed manifest, or raise :class:`ManifestError`."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: (list(e.absolute_path), e.validator))
    if errors:
        # A bad key name first (errors below it are consequences), else the deepest error: it
        # names the most precise key.
        names = [e for e in errors if "propertyNames" in e.schema_path]
        best = names[0] if names else max(errors, key=lambda e: len(e.absolute_path))
        path, reason = _describe(best)
        raise ManifestError(source, path, reason)
    return _typed(data, source)


def parse(text: str | bytes, source: str = "manifest.json") -> Manifest:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(source, "", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return validate(data, source)


def _typed(data: dict[str, Any], source: str) -> Manifest:
    mem = data.get("memory", {})
    sizes = MemorySizes(**{k: int(v) for k, v in mem.items()})
    entries: list[BytecodeEntry] = []
    places: dict[tuple[str, int | None, str, int], str] = {}
    for name, b in data["bytecodes"].items():
        fields = b.get("fields", {})
        entry = BytecodeEntry(
            name=name,
            object=b["object"],
            section=b.get("section"),
            operation=b["operation"],
            param=b.get("param"),
            mode=Mode(b["mode"]),
            sequence=int(b.get("sequence", 0)),
            permissions=frozenset(b.get("permissions", ())),
            read_fields=tuple(fields.get("read", ())),
            write_fields=tuple(fields.get("write", ())),
        )
        place = (entry.operation, entry.param, entry.mode.value, entry.sequence)
        if place in places:
            raise ManifestError(
                source,
                f"bytecodes.{name}.sequence",
                f"bytecode {places[place]!r} already is the {entry.mode.value} of {entry.operation} "
                f"at sequence {entry.sequence}",
            )
        places[place] = name
        entries.append(entry)
    ops: list[OperationEntry] = []
    seen_names: set[str] = set()
    seen_ids: set[int] = set()
    for i, o in enumerate(data.get("operations", ())):
        if o["name"] in seen_names:
            raise ManifestError(source, f"operations[{i}].name", f"operation {o['name']!r} is declared twice")
        if o["id"] in seen_ids:
            raise ManifestError(source, f"operations[{i}].id", f"operation id {o['id']} is declared twice")
        seen_names.add(o["name"])
        seen_ids.add(o["id"])
        ops.append(
            OperationEntry(
                o["name"],
                int(o["id"]),
                int(o.get("inputs", 0)),
                int(o.get("outputs", 0)),
                bool(o.get("parametrised", False)),
            )
        )
    build = data.get("build", {})
    return Manifest(
        id=data["id"],
        version=data["version"],
        scope=data.get("scope", "session"),
        budget=int(data.get("budget", DEFAULT_BUDGET)),
        memory=sizes,
        bytecodes=tuple(entries),
        operations=tuple(ops),
        sources=tuple(build.get("sources", ())),
        cflags=tuple(build.get("cflags", ())),
        cpu=build.get("cpu", ""),
        description=data.get("description", ""),
        raw=data,
    )


__all__ = [
    "DEFAULT_BUDGET",
    "BytecodeEntry",
    "Manifest",
    "ManifestError",
    "OperationEntry",
    "parse",
    "schema",
    "validate",
]
