"""The plugin API: helper functions bytecode calls, bound to a hidden invocation context.

Bytecode calls API functions like any eBPF helper (``call ID``; ``plugin.h`` declares them as
``static long (*pb_xxx)(...) = (void *) ID``).  Neither the bytecode nor its registers carry a
context pointer: every loaded bytecode gets its own :class:`~pybpf.helpers.registry.HelperRegistry`
whose functions are methods of an :class:`ApiBinding` holding that bytecode.  When the dispatcher
runs the bytecode it sets ``bytecode.inv`` (the current :class:`~pybpf.plugins.operations.Invocation`),
so a function knows the session, plugin, operation, inputs and outputs it serves.

Each function has a prototype for the verifier (:data:`API`), a permission (None: always
available) and possibly a mode restriction (``pb_next`` for replace bytecodes, output setters for
replace bytecodes).  A function the manifest does not grant is not in the bytecode's registry nor
its platform, and :func:`pybpf.plugins.platform.check_calls` names it at load time.

Refusals at run time raise :class:`~pybpf.plugins.faults.PluginFaultError` with a
:class:`~pybpf.plugins.faults.FaultKind`; the dispatcher records them as faults.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pybpf.errors import VMError
from pybpf.helpers.maps import MAP_HELPERS
from pybpf.helpers.printk import FormatError, format_kernel
from pybpf.helpers.prototypes import LINUX_PROTOTYPES, Arg, ArgKind, HelperProto, RetKind
from pybpf.helpers.registry import Helper, HelperRegistry
from pybpf.plugins.faults import FaultKind, PluginFaultError
from pybpf.plugins.memory import FreeError, Heap
from pybpf.plugins.operations import NO_PARAM, Mode, Value

if TYPE_CHECKING:
    from pybpf.plugins.instance import Bytecode

M64 = (1 << 64) - 1
ENOENT = 2
SHM_ENDPOINT = 1  # pb_shm_* flag: the endpoint-wide store instead of the plugin's own
LOG_LINES_KEPT = 1000
log = logging.getLogger("pybpf.plugins")

PERMISSIONS = ("read", "write", "heap", "shm", "call", "maps")
REGION_HEAP, REGION_SCRATCH, REGION_SHM = "heap", "scratch", "shm"

_S = Arg(ArgKind.SCALAR)
_ANY = Arg(ArgKind.ANYTHING)
_ALLOC = Arg(ArgKind.CONST_ALLOC_SIZE_OR_ZERO)
_MEM = Arg(ArgKind.PTR_TO_MEM)
_MEM_OR_NULL = Arg(ArgKind.PTR_TO_MEM, nullable=True)
_UNINIT = Arg(ArgKind.PTR_TO_UNINIT_MEM)
_SIZE = Arg(ArgKind.CONST_SIZE)
_SIZE0 = Arg(ArgKind.CONST_SIZE_OR_ZERO)


@dataclass(frozen=True)
class ApiFunction:
    """One API function: id, C name and signature, permission, prototype, doc."""

    id: int
    name: str
    c_ret: str
    c_args: str
    proto: HelperProto
    permission: str | None = None
    replace_only: bool = False
    doc: str = ""
    method: str = ""  # ApiBinding method (default: the name without "pb_")
    table: bool = False  # answered from the invocation's argument table (see Helper.table)


def _fn(
    hid: int,
    name: str,
    c_ret: str,
    c_args: str,
    args: tuple[Arg, ...] = (),
    *,
    ret: RetKind = RetKind.INTEGER,
    region: str = "",
    permission: str | None = None,
    replace_only: bool = False,
    doc: str = "",
    table: bool = False,
) -> ApiFunction:
    proto = HelperProto(hid, name, args, ret, region=region, doc=doc)
    return ApiFunction(
        hid, name, c_ret, c_args, proto, permission, replace_only, doc, name.removeprefix("pb_"), table
    )


API_BASE = 1000
API: tuple[ApiFunction, ...] = (
    _fn(
        1000,
        "pb_get_input",
        "__u64",
        "__u64 i",
        (_S,),
        doc="input i of the operation (u64; a byte input gives its length)",
        table=True,
    ),
    _fn(
        1001, "pb_set_output", "long", "__u64 i, __u64 value", (_S, _S), replace_only=True, doc="set output i to a u64"
    ),
    _fn(
        1002,
        "pb_get_input_bytes",
        "long",
        "__u64 i, void *buf, __u32 size",
        (_S, _UNINIT, _SIZE0),
        doc="copy byte input i into buf (at most size bytes); returns the bytes copied",
    ),
    _fn(
        1003,
        "pb_set_output_bytes",
        "long",
        "__u64 i, const void *buf, __u32 size",
        (_S, _MEM_OR_NULL, _SIZE0),
        replace_only=True,
        doc="set output i to the size bytes at buf",
    ),
    _fn(1004, "pb_get_param", "__u64", "void", doc="the operation's parameter (PB_NO_PARAM if none)"),
    _fn(1005, "pb_get_result", "__u64", "void", doc="the operation's result (post observers; 0 before it exists)"),
    _fn(1006, "pb_num_inputs", "__u64", "void", doc="number of inputs of the operation"),
    _fn(1010, "pb_get_field", "__u64", "__u64 field", (_S,), permission="read", doc="read host field by id"),
    _fn(
        1011,
        "pb_set_field",
        "long",
        "__u64 field, __u64 value",
        (_S, _S),
        permission="write",
        doc="write host field by id",
    ),
    _fn(
        1020,
        "pb_next",
        "__u64",
        "void",
        replace_only=True,
        doc="run the next replace bytecode of the chain (or the default) and return its result",
    ),
    _fn(
        1021,
        "pb_call_op",
        "__u64",
        "__u64 op, __u64 param, const __u64 *args, __u32 args_size",
        (_S, _S, _MEM_OR_NULL, _SIZE0),
        permission="call",
        doc="call operation op (param or PB_NO_PARAM) with args_size/8 u64 inputs; returns its result",
    ),
    _fn(
        1030,
        "pb_malloc",
        "void *",
        "__u64 size",
        (_ALLOC,),
        ret=RetKind.REGION_OR_NULL,
        region=REGION_HEAP,
        permission="heap",
        doc="zeroed block of the plugin heap, or NULL",
    ),
    _fn(
        1031,
        "pb_calloc",
        "void *",
        "__u64 n, __u64 size",
        (_S, _S),
        ret=RetKind.REGION_OR_NULL,
        region=REGION_HEAP,
        permission="heap",
        doc="zeroed block of n*size bytes, or NULL (size unknown to the verifier: checked at run time)",
    ),
    _fn(
        1032,
        "pb_realloc",
        "void *",
        "void *ptr, __u64 size",
        (_ANY, _ALLOC),
        ret=RetKind.REGION_OR_NULL,
        region=REGION_HEAP,
        permission="heap",
        doc="resize a block (contents kept), or NULL (the old block stays valid)",
    ),
    _fn(1033, "pb_free", "long", "void *ptr", (_ANY,), permission="heap", doc="free a block (NULL is ignored)"),
    _fn(
        1034,
        "pb_scratch_alloc",
        "void *",
        "__u64 size",
        (_ALLOC,),
        ret=RetKind.REGION_OR_NULL,
        region=REGION_SCRATCH,
        doc="zeroed scratch block, valid until the invocation ends, or NULL",
    ),
    _fn(
        1040,
        "pb_shm_new",
        "void *",
        "__u64 key, __u64 size, __u64 flags",
        (_S, _ALLOC, _S),
        ret=RetKind.REGION_OR_NULL,
        region=REGION_SHM,
        permission="shm",
        doc="new zeroed shared block under key (flags: PB_SHM_ENDPOINT), NULL if the key exists",
    ),
    _fn(
        1041,
        "pb_shm_get",
        "void *",
        "__u64 key, __u64 size, __u64 flags",
        (_S, _ALLOC, _S),
        ret=RetKind.REGION_OR_NULL,
        region=REGION_SHM,
        permission="shm",
        doc="the shared block under key if it has at least size bytes, else NULL",
    ),
    _fn(
        1042,
        "pb_shm_remove",
        "long",
        "__u64 key, __u64 flags",
        (_S, _S),
        permission="shm",
        doc="remove the shared block under key (0, or -ENOENT)",
    ),
    _fn(
        1050,
        "pb_log",
        "long",
        "const char *fmt, __u32 fmt_size, __u64 a, __u64 b, __u64 c",
        (_MEM, _SIZE, _S, _S, _S),
        doc="printf-like log line (%d %u %x %c %s, l/ll modifiers, up to 3 arguments)",
    ),
    _fn(1051, "pb_time_ns", "__u64", "void", doc="monotonic time in nanoseconds"),
)

# The Linux map helpers keep their Linux ids, so a plugin object's maps work as in libbpf.
MAP_FUNCTIONS: tuple[ApiFunction, ...] = tuple(
    ApiFunction(p.id, f"bpf_{p.name}", "", "", p, "maps", False, f"Linux bpf_{p.name}", "")
    for p in LINUX_PROTOTYPES
    if p.id in (1, 2, 3)
)
ALL_FUNCTIONS: tuple[ApiFunction, ...] = API + MAP_FUNCTIONS
BY_ID: dict[int, ApiFunction] = {f.id: f for f in ALL_FUNCTIONS}
BY_NAME: dict[str, ApiFunction] = {f.name: f for f in ALL_FUNCTIONS}
_MAP_IMPLS: dict[int, Callable[..., int]] = {hid: func for hid, _, func in MAP_HELPERS if hid in (1, 2, 3)}


def available(fn: ApiFunction, granted: frozenset[str], mode: Mode) -> bool:
    """Whether a bytecode with these permissions, in this mode, may call ``fn``."""
    if fn.permission is not None and fn.permission not in granted:
        return False
    return not (fn.replace_only and mode is not Mode.REPLACE)


class HostCallbackError(VMError):
    """A host callable (default, field accessor) raised while bytecode was running: it travels
    through the engines unchanged and is re-raised to the host as the original exception."""

    def __init__(self, pc: int, original: BaseException) -> None:
        self.original = original
        super().__init__(pc, f"host code raised {type(original).__name__}: {original}")


class ApiBinding:
    """The API functions of one bytecode: every method is a helper ``f(env, r1, ..., r5)``."""

    def __init__(self, bytecode: Bytecode) -> None:
        self.bc = bytecode

    def registry(self) -> HelperRegistry:
        """The helpers this bytecode may call (granted by its manifest entry)."""
        bc = self.bc
        registry = HelperRegistry()
        for fn in ALL_FUNCTIONS:
            if not available(fn, bc.permissions, bc.mode):
                continue
            func = _MAP_IMPLS[fn.id] if fn.id in _MAP_IMPLS else getattr(self, fn.method)
            registry.add(Helper(fn.id, fn.name, func, fn.doc, table=fn.table))
        return registry

    # -- helpers ----------------------------------------------------------------------------------
    def _fault(self, env: Any, kind: FaultKind, message: str) -> PluginFaultError:
        return PluginFaultError(int(env.pc), kind, message)

    def _inv_value(self, env: Any, i: int, what: str) -> Value:
        inv = self.bc.inv
        assert inv is not None
        if i >= len(inv.inputs):
            op = inv.operation
            raise self._fault(
                env,
                FaultKind.BAD_ARGUMENT,
                f"{what}: input {i} does not exist (operation {op.name} has {len(op.inputs)})",
            )
        return inv.inputs[i]

    def _output_index(self, env: Any, i: int, what: str) -> int:
        inv = self.bc.inv
        assert inv is not None
        if i >= len(inv.outputs):
            op = inv.operation
            raise self._fault(
                env,
                FaultKind.BAD_ARGUMENT,
                f"{what}: output {i} does not exist (operation {op.name} has {len(op.outputs)})",
            )
        return i

    def _size_limit(self, env: Any, heap: Heap, size: int, what: str) -> None:
        if size > heap.capacity:
            raise self._fault(
                env,
                FaultKind.OUT_OF_MEMORY,
                f"{what}({size}) asks for more than the whole {heap.name} ({heap.capacity} bytes)",
            )

    def _free_error(self, env: Any, exc: FreeError, what: str) -> PluginFaultError:
        kind = FaultKind.DOUBLE_FREE if exc.double else FaultKind.INVALID_FREE
        return self._fault(env, kind, f"{what}: {exc}")

    def _host(self, env: Any, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except VMError:
            raise
        except Exception as exc:
            raise HostCallbackError(int(env.pc), exc) from exc

    # -- inputs, outputs, parameter ------------------------------------------------------------
    def get_input(self, env: Any, i: int, *_: int) -> int:
        value = self._inv_value(env, i, "pb_get_input")
        return len(value) if isinstance(value, (bytes, bytearray)) else value & M64

    def get_input_bytes(self, env: Any, i: int, buf: int, size: int, *_: int) -> int:
        value = self._inv_value(env, i, "pb_get_input_bytes")
        if not isinstance(value, (bytes, bytearray)):
            raise self._fault(env, FaultKind.BAD_ARGUMENT, f"pb_get_input_bytes: input {i} is a number, not bytes")
        n = min(size, len(value))
        env.memory.write(buf, bytes(value[:n]), env.pc)
        return n

    def set_output(self, env: Any, i: int, value: int, *_: int) -> int:
        inv = self.bc.inv
        assert inv is not None
        inv.outputs[self._output_index(env, i, "pb_set_output")] = value
        return 0

    def set_output_bytes(self, env: Any, i: int, buf: int, size: int, *_: int) -> int:
        inv = self.bc.inv
        assert inv is not None
        index = self._output_index(env, i, "pb_set_output_bytes")
        inv.outputs[index] = env.memory.read(buf, size, env.pc) if size else b""
        return 0

    def get_param(self, env: Any, *_: int) -> int:
        inv = self.bc.inv
        assert inv is not None
        return NO_PARAM if inv.param is None else inv.param & M64

    def get_result(self, env: Any, *_: int) -> int:
        inv = self.bc.inv
        assert inv is not None
        return inv.result & M64

    def num_inputs(self, env: Any, *_: int) -> int:
        inv = self.bc.inv
        assert inv is not None
        return len(inv.inputs)

    # -- host fields --------------------------------------------------------------------------------
    def get_field(self, env: Any, fid: int, *_: int) -> int:
        bc = self.bc
        inv = bc.inv
        assert inv is not None
        fld = inv.session.host.fields.get(fid)
        if fld is None:
            raise self._fault(env, FaultKind.BAD_ARGUMENT, f"pb_get_field: the host has no field with id {fid}")
        if fid not in bc.read_fields:
            raise self._fault(
                env,
                FaultKind.PERMISSION,
                f"pb_get_field: bytecode {bc.name} may not read field {fld.name!r} (not in its manifest's fields.read)",
            )
        target = inv.session if fld.scope == "session" else inv.session.endpoint
        return int(self._host(env, lambda: fld.get(target))) & M64

    def set_field(self, env: Any, fid: int, value: int, *_: int) -> int:
        bc = self.bc
        inv = bc.inv
        assert inv is not None
        fld = inv.session.host.fields.get(fid)
        if fld is None:
            raise self._fault(env, FaultKind.BAD_ARGUMENT, f"pb_set_field: the host has no field with id {fid}")
        setter = fld.set
        if setter is None:
            raise self._fault(env, FaultKind.PERMISSION, f"pb_set_field: field {fld.name!r} is read-only")
        if fid not in bc.write_fields:
            raise self._fault(
                env,
                FaultKind.PERMISSION,
                f"pb_set_field: bytecode {bc.name} may not write field {fld.name!r} (not in its manifest's fields.write)",
            )
        target = inv.session if fld.scope == "session" else inv.session.endpoint
        self._host(env, lambda: setter(target, value))
        return 0

    # -- operations -------------------------------------------------------------------------------
    def next(self, env: Any, *_: int) -> int:
        bc = self.bc
        inv = bc.inv
        assert inv is not None
        saved = inv.index
        try:
            return inv.session._replace(inv, saved + 1, bc.plugin, bc) & M64
        finally:
            inv.index = saved

    def call_op(self, env: Any, op_id: int, param: int, args: int, size: int, *_: int) -> int:
        bc = self.bc
        inv = bc.inv
        assert inv is not None
        session = inv.session
        op = session.operation_by_id(op_id)
        if op is None:
            raise self._fault(env, FaultKind.UNKNOWN_OPERATION, f"pb_call_op: no operation with id {op_id}")
        if size % 8 or size // 8 != len(op.inputs):
            raise self._fault(
                env,
                FaultKind.BAD_ARGUMENT,
                f"pb_call_op: operation {op.name} takes {len(op.inputs)} u64 inputs ({8 * len(op.inputs)} bytes), "
                f"got {size} bytes",
            )
        raw = env.memory.read(args, size, env.pc) if size else b""
        inputs = tuple(int.from_bytes(raw[k : k + 8], "little") for k in range(0, size, 8))
        p = None if param == NO_PARAM else param
        return session._call(op, p, inputs, bc).result & M64

    # -- memory -----------------------------------------------------------------------------------
    def malloc(self, env: Any, size: int, *_: int) -> int:
        heap = self.bc.plugin.memory.heap
        self._size_limit(env, heap, size, "pb_malloc")
        return heap.malloc(size)

    def calloc(self, env: Any, n: int, size: int, *_: int) -> int:
        heap = self.bc.plugin.memory.heap
        self._size_limit(env, heap, n * size, "pb_calloc")
        return heap.malloc(n * size)

    def realloc(self, env: Any, ptr: int, size: int, *_: int) -> int:
        heap = self.bc.plugin.memory.heap
        self._size_limit(env, heap, size, "pb_realloc")
        try:
            return heap.realloc(ptr, size)
        except FreeError as exc:
            raise self._free_error(env, exc, "pb_realloc") from None

    def free(self, env: Any, ptr: int, *_: int) -> int:
        if ptr == 0:
            return 0
        try:
            self.bc.plugin.memory.heap.free(ptr)
        except FreeError as exc:
            raise self._free_error(env, exc, "pb_free") from None
        return 0

    def scratch_alloc(self, env: Any, size: int, *_: int) -> int:
        scratch = self.bc.plugin.memory.scratch
        self._size_limit(env, scratch, size, "pb_scratch_alloc")
        return scratch.malloc(size)

    def _shm(self, env: Any, flags: int, what: str) -> Any:
        if flags & ~SHM_ENDPOINT:
            raise self._fault(env, FaultKind.BAD_ARGUMENT, f"{what}: unknown flags 0x{flags:x}")
        if flags & SHM_ENDPOINT:
            inv = self.bc.inv
            assert inv is not None
            return inv.session.endpoint.shm
        return self.bc.plugin.memory.shm

    def shm_new(self, env: Any, key: int, size: int, flags: int, *_: int) -> int:
        shm = self._shm(env, flags, "pb_shm_new")
        self._size_limit(env, shm.heap, size, "pb_shm_new")
        return int(shm.new(key, size))

    def shm_get(self, env: Any, key: int, size: int, flags: int, *_: int) -> int:
        return int(self._shm(env, flags, "pb_shm_get").get(key, size))

    def shm_remove(self, env: Any, key: int, flags: int, *_: int) -> int:
        return 0 if self._shm(env, flags, "pb_shm_remove").remove(key) else -ENOENT

    # -- log and time -----------------------------------------------------------------------------
    def log(self, env: Any, fmt: int, size: int, a: int, b: int, c: int) -> int:
        raw = env.memory.read(fmt, size, env.pc)
        nul = raw.find(b"\0")
        if nul >= 0:
            raw = raw[:nul]
        memory = env.memory

        def read_string(address: int) -> bytes | None:
            try:
                return bytes(memory.read_cstring(address, 256))
            except VMError:
                return None

        try:
            text = format_kernel(raw, (a, b, c), read_string).decode("latin-1")
        except FormatError as exc:
            raise self._fault(env, FaultKind.BAD_ARGUMENT, f"pb_log: bad format {raw!r}: {exc}") from None
        plugin = self.bc.plugin
        plugin.log.append(text)
        if len(plugin.log) > LOG_LINES_KEPT:
            del plugin.log[: len(plugin.log) - LOG_LINES_KEPT]
        log.info("%s/%s: %s", plugin.id, self.bc.name, text)
        return 0

    def time_ns(self, env: Any, *_: int) -> int:
        return time.monotonic_ns()


__all__ = [
    "ALL_FUNCTIONS",
    "API",
    "BY_ID",
    "BY_NAME",
    "MAP_FUNCTIONS",
    "PERMISSIONS",
    "SHM_ENDPOINT",
    "ApiBinding",
    "ApiFunction",
    "HostCallbackError",
    "available",
]
