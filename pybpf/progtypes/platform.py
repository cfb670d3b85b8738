"""Platforms: everything environment-specific the verifier needs, as data.

The verifier core knows no kernel facts.  A :class:`Platform` tells it, per program type
(:class:`ProgTypeSpec`), what the context looks like (:class:`ContextLayout`: each field's offset,
size, permissions and value kind), which values r0 may hold at exit, which helpers exist
(prototypes from :mod:`pybpf.helpers.prototypes`), whether the program may touch packet bytes
directly and whether the legacy ``LD_ABS``/``LD_IND`` loads are allowed; and, for hosts that
expose memory of their own (a plugin heap), which extra regions exist (:class:`RegionSpec`).

:func:`linux_platform` is the Linux-compatible platform: XDP (``xdp_md``), tc classifiers and
actions and cgroup skb filters (``__sk_buff`` with direct packet access), socket filters
(``__sk_buff`` without it, with ``LD_ABS``), kprobe / tracepoint / raw tracepoint programs
(read-only opaque contexts) and ``syscall`` programs (a caller buffer of a declared size).  A plugin
framework builds its own ``Platform(prog_types=..., helpers=..., regions=...)``.

Shadow pointer contract (runtime <-> verifier)
---------------------------------------------
Context fields that hold packet pointers (``xdp_md.data``/``data_end``/``data_meta``,
``__sk_buff.data``/``data_end``/``data_meta``) are 32 bits wide in the kernel-visible struct, and
real addresses do not fit.  Each such field therefore has a ``shadow_offset``: the runtime
allocates the context buffer with :attr:`ContextLayout.total_size` bytes (the kernel-visible
struct followed by the shadow area) and stores the full 64-bit little-endian address of the
pointer there, while the 32-bit field itself may hold anything (pybpf puts the low 32 bits).
The verifier proves that every context load of a pointer field is a 4-byte load at the field's
offset, and rewrites it (:attr:`VerifierResult.rewritten`) into an 8-byte load from the shadow
offset, the way Linux's ``convert_ctx_access`` rewrites it into a load of the real pointer.
Programs never reach the shadow area otherwise: every other context access is proven to stay
inside the kernel-visible struct.  The runtime must refresh the shadow fields whenever it
changes the packet bounds (``xdp_adjust_head`` etc.); the verifier has already made every packet
pointer the program held before such a call unusable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum

from pybpf.helpers.prototypes import HelperProto, PrototypeTable, linux_prototypes
from pybpf.progtypes.sections import ProgType

S64_MIN, S64_MAX = -(1 << 63), (1 << 63) - 1
MAX_PACKET_OFF = 0xFFFF


class ValueKind(Enum):
    """What a context field holds."""

    SCALAR = "scalar"
    PACKET = "packet"  # start of packet data
    PACKET_END = "packet_end"  # one past the last packet byte
    PACKET_META = "packet_meta"  # start of the metadata area (<= packet start)
    POINTER = "pointer"  # another pointer the program may only pass around or test against 0


@dataclass(frozen=True)
class CtxField:
    """One context field.  ``read_sizes``/``write_sizes`` are the access widths allowed; an access
    narrower than the field must be aligned to its own size; empty means no access."""

    name: str
    offset: int
    size: int
    read_sizes: frozenset[int] = frozenset({1, 2, 4})
    write_sizes: frozenset[int] = frozenset()
    kind: ValueKind = ValueKind.SCALAR
    shadow_offset: int | None = None

    @property
    def readable(self) -> bool:
        return bool(self.read_sizes)

    @property
    def writable(self) -> bool:
        return bool(self.write_sizes)

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class ContextLayout:
    """The context a program receives in r1.

    Either ``fields`` describe it field by field (struct contexts), or it is ``raw``: opaque bytes
    readable (and, if ``raw_writable``, writable) at any offset below ``size`` with naturally
    aligned accesses of 1, 2, 4 or 8 bytes, giving unknown scalars.  A raw context that is a
    ``buffer`` (the caller's memory of a ``syscall`` program) is plain memory: the program may
    also move its pointer and index it with bounded variables, at any alignment.
    """

    name: str
    size: int
    fields: tuple[CtxField, ...] = ()
    raw: bool = False
    raw_writable: bool = False
    buffer: bool = False

    @property
    def total_size(self) -> int:
        """Size of the buffer the runtime allocates: the struct plus the shadow area."""
        ends = [f.shadow_offset + 8 for f in self.fields if f.shadow_offset is not None]
        return max([self.size, *ends])

    def field_at(self, offset: int, size: int) -> CtxField | None:
        """The field fully containing ``[offset, offset + size)``, if any."""
        for f in self.fields:
            if f.offset <= offset and offset + size <= f.end:
                return f
        return None

    def pointer_fields(self) -> list[CtxField]:
        return [f for f in self.fields if f.shadow_offset is not None]

    def with_size(self, size: int) -> ContextLayout:
        return replace(self, size=size)


@dataclass(frozen=True)
class RegionSpec:
    """A memory region a platform exposes through helpers (e.g. a plugin heap).

    ``size`` is what a pointer to the region may reach; a helper whose prototype has a
    ``CONST_ALLOC_SIZE_OR_ZERO`` argument gives each pointer it returns that argument's size instead,
    and a negative size means "unknown to the verifier".  ``runtime_checked`` says the runtime checks
    every access to this region (a plugin heap whose blocks come and go): accesses the verifier cannot
    bound (unknown or non-constant sizes) are then accepted, and no access to the region is ever put
    in the proven-``safe`` set, so the interpreter and the JIT check each one against the live blocks.
    """

    name: str
    size: int
    writable: bool = True
    runtime_checked: bool = False


@dataclass(frozen=True)
class ProgTypeSpec:
    """One program type: its context, its exit values and what it may call and touch."""

    name: str
    ctx: ContextLayout
    prog_type: ProgType | None = None
    ret_range: tuple[int, int] | None = None  # signed bounds on r0 at exit (None = any scalar)
    helpers: frozenset[int] | None = None  # allowed helper ids (None = every helper of the platform)
    direct_packet_access: bool = False
    packet_writable: bool = False
    ld_abs: bool = False
    aliases: tuple[str, ...] = ()

    def allows_helper(self, hid: int) -> bool:
        return self.helpers is None or hid in self.helpers


@dataclass
class Platform:
    """Program types, helper prototypes and extra memory regions of one environment."""

    prog_types: Mapping[str, ProgTypeSpec]
    helpers: PrototypeTable | Mapping[int, HelperProto] = field(default_factory=PrototypeTable)
    regions: Mapping[str, RegionSpec] = field(default_factory=dict)
    name: str = "custom"
    allow_div_by_zero: bool = True  # the ISA defines x/0 = 0 and x%0 = x
    max_packet_off: int = MAX_PACKET_OFF

    def __post_init__(self) -> None:
        if not isinstance(self.helpers, PrototypeTable):
            self.helpers = PrototypeTable(dict(self.helpers))

    @property
    def prototypes(self) -> PrototypeTable:
        assert isinstance(self.helpers, PrototypeTable)
        return self.helpers

    def prog_type(self, name: str | ProgType) -> ProgTypeSpec:
        """A program type by name (case-insensitive, aliases accepted) or kernel type number."""
        if isinstance(name, ProgType):
            for spec in self.prog_types.values():
                if spec.prog_type == name:
                    return spec
            name = name.name
        key = name.lower()
        for spec_name, spec in self.prog_types.items():
            if key == spec_name.lower() or key in (a.lower() for a in spec.aliases):
                return spec
        known = ", ".join(sorted(self.prog_types))
        raise KeyError(f"unknown program type {name!r} (known: {known})")

    def extended(
        self,
        prog_types: Iterable[ProgTypeSpec] = (),
        helpers: Iterable[HelperProto] = (),
        regions: Iterable[RegionSpec] = (),
        name: str | None = None,
    ) -> Platform:
        """A copy with more program types, helpers and regions (a plugin host on top of Linux)."""
        types = dict(self.prog_types)
        types.update({p.name: p for p in prog_types})
        regs = dict(self.regions)
        regs.update({r.name: r for r in regions})
        return Platform(
            types,
            self.prototypes.merged(helpers),
            regs,
            name or self.name,
            self.allow_div_by_zero,
            self.max_packet_off,
        )


# -- Linux contexts --------------------------------------------------------------------------------
_R = frozenset({1, 2, 4})
_R4 = frozenset({4})
_W4 = frozenset({4})
_CB = frozenset({1, 2, 4, 8})
_R8 = frozenset({8})

XDP_MD_SIZE = 24
SK_BUFF_SIZE = 192


def xdp_md() -> ContextLayout:
    """``struct xdp_md``: six u32 fields; the first three are packet pointers (shadowed)."""
    shadow = XDP_MD_SIZE
    return ContextLayout(
        "xdp_md",
        XDP_MD_SIZE,
        (
            CtxField("data", 0, 4, _R4, kind=ValueKind.PACKET, shadow_offset=shadow),
            CtxField("data_end", 4, 4, _R4, kind=ValueKind.PACKET_END, shadow_offset=shadow + 8),
            CtxField("data_meta", 8, 4, _R4, kind=ValueKind.PACKET_META, shadow_offset=shadow + 16),
            CtxField("ingress_ifindex", 12, 4, _R4),
            CtxField("rx_queue_index", 16, 4, _R4),
            CtxField("egress_ifindex", 20, 4, _R4),
        ),
    )


def sk_buff(*, packet: bool, writable: Iterable[str] = (), meta: bool = True) -> ContextLayout:
    """``struct __sk_buff`` (linux-libc-dev 6.1 offsets).

    ``packet`` makes data/data_end (and data_meta if ``meta``) readable packet pointers;
    ``writable`` names the fields the program type may store to (cb[] allows narrow stores).
    """
    w = set(writable)
    shadow = SK_BUFF_SIZE

    def u32(name: str, off: int) -> CtxField:
        if name in w:
            return CtxField(name, off, 4, _R, _W4)
        return CtxField(name, off, 4, _R)

    fields = [
        u32("len", 0),
        u32("pkt_type", 4),
        u32("mark", 8),
        u32("queue_mapping", 12),
        u32("protocol", 16),
        u32("vlan_present", 20),
        u32("vlan_tci", 24),
        u32("vlan_proto", 28),
        u32("priority", 32),
        u32("ingress_ifindex", 36),
        u32("ifindex", 40),
        u32("tc_index", 44),
        # cb[5]: one 20-byte scratch area, any naturally aligned access of 1, 2, 4 or 8 bytes
        CtxField("cb", 48, 20, _CB, _CB if "cb" in w else frozenset()),
        u32("hash", 68),
        u32("tc_classid", 72),
        CtxField("data", 76, 4, _R4 if packet else frozenset(), kind=ValueKind.PACKET, shadow_offset=shadow),
        CtxField(
            "data_end", 80, 4, _R4 if packet else frozenset(), kind=ValueKind.PACKET_END, shadow_offset=shadow + 8
        ),
        u32("napi_id", 84),
        u32("family", 88),
        u32("remote_ip4", 92),
        u32("local_ip4", 96),
        *(u32(f"remote_ip6_{i}", 100 + 4 * i) for i in range(4)),
        *(u32(f"local_ip6_{i}", 116 + 4 * i) for i in range(4)),
        u32("remote_port", 132),
        u32("local_port", 136),
        CtxField(
            "data_meta",
            140,
            4,
            _R4 if (packet and meta) else frozenset(),
            kind=ValueKind.PACKET_META,
            shadow_offset=shadow + 16,
        ),
        CtxField("flow_keys", 144, 8, frozenset(), kind=ValueKind.POINTER),
        CtxField("tstamp", 152, 8, _R8, _R8 if "tstamp" in w else frozenset()),
        u32("wire_len", 160),
        u32("gso_segs", 164),
        CtxField("sk", 168, 8, _R8, kind=ValueKind.POINTER),
        u32("gso_size", 176),
        CtxField("tstamp_type", 180, 1, frozenset({1})),
        CtxField("hwtstamp", 184, 8, _R8),
    ]
    return ContextLayout("__sk_buff", SK_BUFF_SIZE, tuple(fields))


def raw_context(name: str, size: int, *, writable: bool, buffer: bool = False) -> ContextLayout:
    return ContextLayout(name, size, raw=True, raw_writable=writable, buffer=buffer)


# -- Linux helper sets -----------------------------------------------------------------------------
BASE_HELPERS = frozenset(
    {1, 2, 3, 5, 6, 7, 8, 12, 42, 87, 88, 89, 93, 94, 105, 106, 118, 125}
    | {130, 131, 132, 133, 134, 160, 164, 165, 177, 181, 182, 195, 208}
)
TRACING_HELPERS = BASE_HELPERS | {4, 14, 15, 16, 45, 112, 113, 114, 115}
SKB_HELPERS = BASE_HELPERS | {9, 10, 11, 23, 26, 28, 34, 38, 50, 51}
SOCKET_FILTER_HELPERS = BASE_HELPERS | {26, 28}
CGROUP_SKB_HELPERS = BASE_HELPERS | {26, 28}
XDP_HELPERS = BASE_HELPERS | {23, 28, 44, 51, 54, 65}

_TC_WRITABLE = ("mark", "priority", "tc_index", "cb", "tc_classid", "queue_mapping", "tstamp")

KPROBE_CTX_SIZE = 168  # struct pt_regs on x86-64
TRACEPOINT_CTX_SIZE = 2048  # PERF_MAX_TRACE_SIZE
RAW_TRACEPOINT_CTX_SIZE = 96  # up to 12 u64 arguments
SYSCALL_CTX_SIZE = 64  # default declared size of a syscall program's buffer


def linux_prog_types(syscall_ctx_size: int = SYSCALL_CTX_SIZE) -> dict[str, ProgTypeSpec]:
    T = ProgType
    tc_ctx = sk_buff(packet=True, writable=_TC_WRITABLE)
    specs = [
        ProgTypeSpec(
            "socket_filter",
            sk_buff(packet=False, writable=("cb",)),
            T.SOCKET_FILTER,
            helpers=SOCKET_FILTER_HELPERS,
            ld_abs=True,
            aliases=("socket",),
        ),
        ProgTypeSpec(
            "sched_cls",
            tc_ctx,
            T.SCHED_CLS,
            helpers=SKB_HELPERS,
            direct_packet_access=True,
            packet_writable=True,
            ld_abs=True,
            aliases=("tc", "classifier"),
        ),
        ProgTypeSpec(
            "sched_act",
            tc_ctx,
            T.SCHED_ACT,
            helpers=SKB_HELPERS,
            direct_packet_access=True,
            packet_writable=True,
            ld_abs=True,
            aliases=("action",),
        ),
        ProgTypeSpec(
            "cgroup_skb",
            sk_buff(packet=True, writable=("mark", "priority", "cb"), meta=False),
            T.CGROUP_SKB,
            ret_range=(0, 1),
            helpers=CGROUP_SKB_HELPERS,
            direct_packet_access=True,
        ),
        ProgTypeSpec(
            "xdp",
            xdp_md(),
            T.XDP,
            helpers=XDP_HELPERS,
            direct_packet_access=True,
            packet_writable=True,
        ),
        ProgTypeSpec(
            "kprobe", raw_context("pt_regs", KPROBE_CTX_SIZE, writable=False), T.KPROBE, helpers=TRACING_HELPERS
        ),
        ProgTypeSpec(
            "tracepoint",
            raw_context("tracepoint", TRACEPOINT_CTX_SIZE, writable=False),
            T.TRACEPOINT,
            helpers=TRACING_HELPERS,
            aliases=("tp",),
        ),
        ProgTypeSpec(
            "raw_tracepoint",
            raw_context("bpf_raw_tracepoint_args", RAW_TRACEPOINT_CTX_SIZE, writable=False),
            T.RAW_TRACEPOINT,
            helpers=TRACING_HELPERS,
            aliases=("raw_tp",),
        ),
        ProgTypeSpec(
            "syscall",
            raw_context("syscall", syscall_ctx_size, writable=True, buffer=True),
            T.SYSCALL,
            helpers=TRACING_HELPERS,
        ),
    ]
    return {s.name: s for s in specs}


def linux_platform(*, syscall_ctx_size: int = SYSCALL_CTX_SIZE) -> Platform:
    """The Linux-compatible platform (helper ids, contexts and limits as in Linux)."""
    return Platform(linux_prog_types(syscall_ctx_size), linux_prototypes(), {}, name="linux")


def with_context_size(spec: ProgTypeSpec, size: int) -> ProgTypeSpec:
    """A raw-context program type with another declared context size (syscall buffers)."""
    if not spec.ctx.raw:
        raise ValueError(f"program type {spec.name} has a fixed context layout ({spec.ctx.name})")
    return replace(spec, ctx=spec.ctx.with_size(size))
