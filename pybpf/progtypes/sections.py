"""Section name to program type, with libbpf's matching rules (libbpf >= 1.0).

This is data: the table lists libbpf's ``SEC()`` names with the kernel's program type numbers.
Matching: an entry ending in ``/`` is a prefix; an entry ending in ``+`` matches the bare name or
the name followed by ``/...``; anything else is exact.  The first match wins.  A leading ``?``
(autoload off) is stripped first.  ``pybpf/...`` names the plugin family of pybpf itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ProgType(IntEnum):
    UNSPEC = 0
    SOCKET_FILTER = 1
    KPROBE = 2
    SCHED_CLS = 3
    SCHED_ACT = 4
    TRACEPOINT = 5
    XDP = 6
    PERF_EVENT = 7
    CGROUP_SKB = 8
    CGROUP_SOCK = 9
    LWT_IN = 10
    LWT_OUT = 11
    LWT_XMIT = 12
    SOCK_OPS = 13
    SK_SKB = 14
    CGROUP_DEVICE = 15
    SK_MSG = 16
    RAW_TRACEPOINT = 17
    CGROUP_SOCK_ADDR = 18
    LWT_SEG6LOCAL = 19
    LIRC_MODE2 = 20
    SK_REUSEPORT = 21
    FLOW_DISSECTOR = 22
    CGROUP_SYSCTL = 23
    RAW_TRACEPOINT_WRITABLE = 24
    CGROUP_SOCKOPT = 25
    TRACING = 26
    STRUCT_OPS = 27
    EXT = 28
    LSM = 29
    SK_LOOKUP = 30
    SYSCALL = 31
    NETFILTER = 32
    # Not a kernel type: pybpf's pluginized-protocol bytecodes.
    PYBPF_PLUGIN = 0x10000


@dataclass(frozen=True)
class SectionRule:
    pattern: str
    prog_type: ProgType

    def matches(self, name: str) -> bool:
        p = self.pattern
        if p.endswith("/"):
            return name.startswith(p)
        if p.endswith("+"):
            base = p[:-1]
            return name == base or name.startswith(base + "/")
        return name == p


_T = ProgType
SECTION_RULES: tuple[SectionRule, ...] = tuple(
    SectionRule(p, t)
    for p, t in (
        ("socket", _T.SOCKET_FILTER),
        ("sk_reuseport/migrate", _T.SK_REUSEPORT),
        ("sk_reuseport", _T.SK_REUSEPORT),
        ("kprobe+", _T.KPROBE),
        ("uprobe+", _T.KPROBE),
        ("uprobe.s+", _T.KPROBE),
        ("kretprobe+", _T.KPROBE),
        ("uretprobe+", _T.KPROBE),
        ("uretprobe.s+", _T.KPROBE),
        ("kprobe.multi+", _T.KPROBE),
        ("kretprobe.multi+", _T.KPROBE),
        ("ksyscall+", _T.KPROBE),
        ("kretsyscall+", _T.KPROBE),
        ("usdt+", _T.KPROBE),
        ("tc/ingress", _T.SCHED_CLS),
        ("tc/egress", _T.SCHED_CLS),
        ("tcx/ingress", _T.SCHED_CLS),
        ("tcx/egress", _T.SCHED_CLS),
        ("tc", _T.SCHED_CLS),
        ("classifier", _T.SCHED_CLS),
        ("action", _T.SCHED_ACT),
        ("tracepoint+", _T.TRACEPOINT),
        ("tp+", _T.TRACEPOINT),
        ("raw_tracepoint+", _T.RAW_TRACEPOINT),
        ("raw_tp+", _T.RAW_TRACEPOINT),
        ("raw_tracepoint.w+", _T.RAW_TRACEPOINT_WRITABLE),
        ("raw_tp.w+", _T.RAW_TRACEPOINT_WRITABLE),
        ("tp_btf+", _T.TRACING),
        ("fentry+", _T.TRACING),
        ("fmod_ret+", _T.TRACING),
        ("fexit+", _T.TRACING),
        ("fentry.s+", _T.TRACING),
        ("fmod_ret.s+", _T.TRACING),
        ("fexit.s+", _T.TRACING),
        ("freplace+", _T.EXT),
        ("lsm+", _T.LSM),
        ("lsm.s+", _T.LSM),
        ("iter+", _T.TRACING),
        ("iter.s+", _T.TRACING),
        ("syscall", _T.SYSCALL),
        ("xdp.frags/devmap", _T.XDP),
        ("xdp/devmap", _T.XDP),
        ("xdp.frags/cpumap", _T.XDP),
        ("xdp/cpumap", _T.XDP),
        ("xdp.frags", _T.XDP),
        ("xdp", _T.XDP),
        ("perf_event", _T.PERF_EVENT),
        ("lwt_in", _T.LWT_IN),
        ("lwt_out", _T.LWT_OUT),
        ("lwt_xmit", _T.LWT_XMIT),
        ("lwt_seg6local", _T.LWT_SEG6LOCAL),
        ("sockops", _T.SOCK_OPS),
        ("sk_skb/stream_parser", _T.SK_SKB),
        ("sk_skb/stream_verdict", _T.SK_SKB),
        ("sk_skb", _T.SK_SKB),
        ("sk_msg", _T.SK_MSG),
        ("lirc_mode2", _T.LIRC_MODE2),
        ("flow_dissector", _T.FLOW_DISSECTOR),
        ("cgroup_skb/ingress", _T.CGROUP_SKB),
        ("cgroup_skb/egress", _T.CGROUP_SKB),
        ("cgroup/skb", _T.CGROUP_SKB),
        ("cgroup/sock_create", _T.CGROUP_SOCK),
        ("cgroup/sock_release", _T.CGROUP_SOCK),
        ("cgroup/sock", _T.CGROUP_SOCK),
        ("cgroup/post_bind4", _T.CGROUP_SOCK),
        ("cgroup/post_bind6", _T.CGROUP_SOCK),
        ("cgroup/dev", _T.CGROUP_DEVICE),
        ("cgroup/sysctl", _T.CGROUP_SYSCTL),
        ("cgroup/getsockopt", _T.CGROUP_SOCKOPT),
        ("cgroup/setsockopt", _T.CGROUP_SOCKOPT),
        ("cgroup/", _T.CGROUP_SOCK_ADDR),
        ("struct_ops+", _T.STRUCT_OPS),
        ("struct_ops.s+", _T.STRUCT_OPS),
        ("sk_lookup", _T.SK_LOOKUP),
        ("netfilter", _T.NETFILTER),
        ("pybpf+", _T.PYBPF_PLUGIN),
    )
)


def prog_type_for_section(section: str) -> ProgType | None:
    """The program type libbpf gives a section name, or None if it gives none."""
    name = section[1:] if section.startswith("?") else section
    for rule in SECTION_RULES:
        if rule.matches(name):
            return rule.prog_type
    return None
