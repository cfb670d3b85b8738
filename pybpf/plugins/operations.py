"""Protocol operations ("anchors") and the chains that run them.

An :class:`Operation` is a point of a host's protocol that plugins may observe or replace: a
numeric id (what bytecode uses), a name (what manifests and Python use), named inputs and outputs,
an optional integer parameter (PQUIC's frame type) and a default implementation in Python.  A
plugin may also *create* operations for its own bytecodes (no default: a plugin's replace
bytecode implements it).

Calling an operation runs its :class:`Chain`: every ``pre`` observer, then the first ``replace``
bytecode (which may hand over to the next one with ``next()``; the last ``next()`` runs the
default) or the default, then every ``post`` observer, which see the result.  Chains are ordered
by the manifest's sequence number, then by insertion order.  The dispatcher itself (call stack,
cycle detection, faults) lives in :mod:`pybpf.plugins.session`.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from pybpf.isa.semantics import M64
from pybpf.plugins.faults import PluginError

if TYPE_CHECKING:
    from pybpf.plugins.instance import Bytecode, PluginInstance
    from pybpf.plugins.session import Session

NO_PARAM = (1 << 64) - 1  # what bytecode passes as "no parameter" (PB_NO_PARAM in plugin.h)
MAX_INPUTS = 16
MAX_OUTPUTS = 16

Value = int | bytes
DefaultFunc = Callable[["Invocation"], int]


class Mode(Enum):
    PRE = "pre"
    REPLACE = "replace"
    POST = "post"


@dataclass(frozen=True)
class Operation:
    """One anchor.  ``default`` gets the :class:`Invocation` and returns the result (an int)."""

    id: int
    name: str
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    default: DefaultFunc | None = None
    parametrised: bool = False
    owner: str | None = None  # id of the plugin that created it (None: the host)
    doc: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.id < (1 << 32):
            raise PluginError(f"operation {self.name!r}: id {self.id} is not a 32-bit unsigned number")
        if not self.name.isidentifier():
            raise PluginError(f"operation name {self.name!r} is not an identifier")
        if len(self.inputs) > MAX_INPUTS or len(self.outputs) > MAX_OUTPUTS:
            raise PluginError(f"operation {self.name}: at most {MAX_INPUTS} inputs and {MAX_OUTPUTS} outputs")


class Invocation:
    """One call of an operation: what the default, the API functions and the host see.

    ``inputs`` are ints (u64) or bytes; ``outputs`` start as zeros and may be set by the default
    or by bytecode (``pb_set_output``); ``result`` is the replace's (or default's) return value,
    visible to post observers.
    """

    # Class-level defaults: a call that needs no chain sets fewer attributes.
    result = 0
    index = 0  # position in the replace chain
    _table: array[int] | None = None
    chain: list[Attachment] = []  # noqa: RUF012 - the replace chain being run (never mutated)

    def __init__(
        self,
        session: Session,
        operation: Operation,
        param: int | None,
        inputs: tuple[Value, ...],
        caller: Bytecode | None,
    ) -> None:
        self.session = session
        self.operation = operation
        self.param = param
        self.inputs = inputs
        self.outputs: list[Value] = [0] * len(operation.outputs)
        self.caller = caller  # the bytecode that called the operation (None: the host)

    @property
    def table(self) -> array[int]:
        """The inputs as ``pb_get_input`` answers them (a byte input gives its length), computed
        once per invocation: the argument table of the bytecodes it runs (``Helper.table``)."""
        table = self._table
        if table is None:
            try:
                table = array("Q", self.inputs)  # type: ignore[arg-type]  # u64 inputs (the common case), converted in C
            except (TypeError, OverflowError):
                table = array("Q", [len(v) if isinstance(v, (bytes, bytearray)) else v & M64 for v in self.inputs])
            self._table = table
        return table

    def input(self, name: str) -> Value:
        """An input by its declared name."""
        return self.inputs[self.operation.inputs.index(name)]

    def set_output(self, name: str, value: Value) -> None:
        self.outputs[self.operation.outputs.index(name)] = value

    def __repr__(self) -> str:
        return f"<Invocation {self.operation.name} param={self.param} inputs={self.inputs} result={self.result}>"


@dataclass(eq=False)
class Attachment:
    """A bytecode attached to an operation (and parameter) in one mode."""

    operation: int
    param: int | None
    mode: Mode
    sequence: int
    plugin: PluginInstance
    bytecode: Bytecode
    order: int = 0  # insertion order, to break sequence ties


@dataclass
class Chain:
    pre: list[Attachment] = field(default_factory=list)
    replace: list[Attachment] = field(default_factory=list)
    post: list[Attachment] = field(default_factory=list)

    def add(self, att: Attachment) -> None:
        getattr(self, att.mode.value).append(att)

    single: Attachment | None = None  # the only attachment, when it is a replace (fast path)

    def sort(self) -> None:
        for items in (self.pre, self.replace, self.post):
            items.sort(key=lambda a: (a.sequence, a.order))
        if len(self.replace) == 1 and not self.pre and not self.post:
            self.single = self.replace[0]


def build_chains(attachments: Iterable[Attachment]) -> dict[object, Chain]:
    """Chains by operation id (no parameter) or (operation id, parameter)."""
    chains: dict[object, Chain] = {}
    for att in attachments:
        key: object = att.operation if att.param is None else (att.operation, att.param)
        chains.setdefault(key, Chain()).add(att)
    for chain in chains.values():
        chain.sort()
    return chains


def describe(op: Operation, param: int | None) -> str:
    return op.name if param is None else f"{op.name}[{param}]"


def check_inputs(op: Operation, inputs: tuple[Any, ...]) -> tuple[Value, ...]:
    """The inputs as ints and bytes, or one clear error."""
    if len(inputs) != len(op.inputs):
        raise PluginError(
            f"operation {op.name} takes {len(op.inputs)} inputs ({', '.join(op.inputs)}), got {len(inputs)}"
        )
    for i, value in enumerate(inputs):
        if not isinstance(value, (int, bytes, bytearray)) or isinstance(value, bool):
            raise PluginError(f"operation {op.name}: input {i} ({op.inputs[i]}) must be an int or bytes")
    return inputs


__all__ = [
    "NO_PARAM",
    "Attachment",
    "Chain",
    "DefaultFunc",
    "Invocation",
    "Mode",
    "Operation",
    "build_chains",
    "check_inputs",
    "describe",
]
