"""Native indexing of pcap and pcapng captures held in memory (part of the runtime library).

A capture runner that executes the program through the batch entry point spends ~40 ns per
packet in native code; walking the file's record headers in Python (``struct.unpack_from`` and
offset arithmetic per record) costs several times that, and dpkt's readers cost microseconds.
These two functions walk the records of a file already read into memory and write, per packet,
the offset and length of its bytes and its raw timestamp into caller-owned ``u64`` arrays, at
about a nanosecond per record.

They only accept what they fully understand and stop at the first record they do not (a header
or body cut short, a record longer than the snaplen, an enhanced packet block with options or
inconsistent lengths, ...).  The caller then reads the rest of the file with dpkt from the offset
where they stopped, so bad captures are reported exactly as dpkt-based reading reports them.

Both have the signature::

    i64 f(ptr buf, i64 size, i64 pos, i64 swap, i64 snaplen,
          ptr offsets, ptr lengths, ptr ts_a, ptr ts_b, i64 cap, ptr stop)

``pos`` is the offset of the first record (after the file header, or after the pcapng section
and interface blocks dpkt parsed), ``swap`` non-zero when the file's byte order is not the
host's, ``snaplen`` 0 for "no limit".  With null ``offsets`` nothing is stored (a counting pass,
so the caller can size its arrays exactly).  At most ``cap`` packets are indexed.  Returns the
number of packets; ``*stop`` is the offset where the walk stopped (``size`` = the whole file was
clean).  pcap: ``ts_a`` = seconds, ``ts_b`` = micro- or nanoseconds; pcapng: ``ts_a`` = the
64-bit timestamp, ``ts_b`` = 0.  Non-packet pcapng blocks are skipped, as dpkt skips them.
"""

from __future__ import annotations

PCAP_SYMBOL = "pybpf_index_pcap"
PCAPNG_SYMBOL = "pybpf_index_pcapng"
PCAPNG_EPB = 6

_SIGNATURE = (
    "(ptr %buf, i64 %size, i64 %pos0, i64 %swap, i64 %snaplen, ptr %offs, ptr %lens, ptr %tsa,"
    " ptr %tsb, i64 %cap, ptr %stopp) nounwind"
)


def _u32(name: str, offset: str) -> list[str]:
    """Load an unaligned u32 at ``buf + offset``, byte-swapped if ``swap``, zero-extended."""
    return [
        f"  %{name}p = getelementptr i8, ptr %buf, i64 {offset}",
        f"  %{name}r = load i32, ptr %{name}p, align 1",
        f"  %{name}s = call i32 @llvm.bswap.i32(i32 %{name}r)",
        f"  %{name}w = select i1 %sw, i32 %{name}s, i32 %{name}r",
        f"  %{name} = zext i32 %{name}w to i64",
    ]


def _store(index: str, values: list[tuple[str, str]]) -> list[str]:
    out = []
    for array, value in values:
        out += [
            f"  %g{array} = getelementptr i64, ptr %{array}, i64 {index}",
            f"  store i64 {value}, ptr %g{array}",
        ]
    return out


def pcap_function() -> list[str]:
    """Classic pcap: 16-byte record headers (seconds, fraction, caplen, origlen)."""
    return [
        f"define i64 @{PCAP_SYMBOL}{_SIGNATURE} {{",
        "entry:",
        "  %sw = icmp ne i64 %swap, 0",
        "  %keep = icmp ne ptr %offs, null",
        "  %limited = icmp ne i64 %snaplen, 0",
        "  br label %loop",
        "loop:",
        "  %i = phi i64 [0, %entry], [%i1, %next]",
        "  %pos = phi i64 [%pos0, %entry], [%pos1, %next]",
        "  %room = icmp ult i64 %i, %cap",
        "  br i1 %room, label %head, label %done",
        "head:",
        "  %rem = sub i64 %size, %pos",
        "  %hdrok = icmp uge i64 %rem, 16",
        "  br i1 %hdrok, label %rec, label %done",
        "rec:",
        "  %o4 = add i64 %pos, 4",
        "  %o8 = add i64 %pos, 8",
        *_u32("sec", "%pos"),
        *_u32("frac", "%o4"),
        *_u32("caplen", "%o8"),
        "  %body = sub i64 %rem, 16",
        "  %fits = icmp ule i64 %caplen, %body",
        "  %over = icmp ugt i64 %caplen, %snaplen",
        "  %toolong = and i1 %limited, %over",
        "  %nottoolong = xor i1 %toolong, true",
        "  %good = and i1 %fits, %nottoolong",
        "  br i1 %good, label %take, label %done",
        "take:",
        "  %dat = add i64 %pos, 16",
        "  br i1 %keep, label %put, label %next",
        "put:",
        *_store("%i", [("offs", "%dat"), ("lens", "%caplen"), ("tsa", "%sec"), ("tsb", "%frac")]),
        "  br label %next",
        "next:",
        "  %i1 = add i64 %i, 1",
        "  %pos1 = add i64 %dat, %caplen",
        "  br label %loop",
        "done:",
        "  store i64 %pos, ptr %stopp",
        "  ret i64 %i",
        "}",
        "",
    ]


def pcapng_function() -> list[str]:
    """pcapng: blocks of (type, total length, body, total length); enhanced packet blocks
    without options become packets, other blocks are skipped."""
    return [
        f"define i64 @{PCAPNG_SYMBOL}{_SIGNATURE} {{",
        "entry:",
        "  %sw = icmp ne i64 %swap, 0",
        "  %keep = icmp ne ptr %offs, null",
        "  %limited = icmp ne i64 %snaplen, 0",
        "  br label %loop",
        "loop:",
        "  %i = phi i64 [0, %entry], [%i, %skip], [%i1, %stored]",
        "  %pos = phi i64 [%pos0, %entry], [%pos1, %skip], [%pos1, %stored]",
        "  %rem = sub i64 %size, %pos",
        "  %hdrok = icmp uge i64 %rem, 12",
        "  br i1 %hdrok, label %blk, label %done",
        "blk:",
        "  %o4 = add i64 %pos, 4",
        *_u32("btype", "%pos"),
        *_u32("blen", "%o4"),
        "  %low = and i64 %blen, 3",
        "  %aligned = icmp eq i64 %low, 0",
        "  %big = icmp uge i64 %blen, 12",
        "  %inside = icmp ule i64 %blen, %rem",
        "  %s1 = and i1 %aligned, %big",
        "  %sane = and i1 %s1, %inside",
        "  br i1 %sane, label %kind, label %done",
        "kind:",
        "  %pos1 = add i64 %pos, %blen",
        f"  %isepb = icmp eq i64 %btype, {PCAPNG_EPB}",
        "  br i1 %isepb, label %epb, label %skip",
        "skip:",
        "  br label %loop",
        "epb:",
        "  %epbbig = icmp uge i64 %blen, 32",
        "  br i1 %epbbig, label %epbhdr, label %done",
        "epbhdr:",
        "  %o12 = add i64 %pos, 12",
        "  %o16 = add i64 %pos, 16",
        "  %o20 = add i64 %pos, 20",
        "  %tail = sub i64 %pos1, 4",
        *_u32("tshi", "%o12"),
        *_u32("tslo", "%o16"),
        *_u32("caplen", "%o20"),
        *_u32("blen2", "%tail"),
        "  %c3 = add i64 %caplen, 3",
        "  %padded = and i64 %c3, -4",
        "  %want = add i64 %padded, 32",
        "  %exact = icmp eq i64 %want, %blen",  # no options: what dpkt reads without parsing any
        "  %same = icmp eq i64 %blen2, %blen",
        "  %over = icmp ugt i64 %caplen, %snaplen",
        "  %toolong = and i1 %limited, %over",
        "  %nottoolong = xor i1 %toolong, true",
        "  %g1 = and i1 %exact, %same",
        "  %g2 = and i1 %g1, %nottoolong",
        "  %room = icmp ult i64 %i, %cap",
        "  %good = and i1 %g2, %room",
        "  br i1 %good, label %take, label %done",
        "take:",
        "  br i1 %keep, label %put, label %stored",
        "put:",
        "  %dat = add i64 %pos, 28",
        "  %hi64 = shl i64 %tshi, 32",
        "  %ts = or i64 %hi64, %tslo",
        *_store("%i", [("offs", "%dat"), ("lens", "%caplen"), ("tsa", "%ts"), ("tsb", "0")]),
        "  br label %stored",
        "stored:",
        "  %i1 = add i64 %i, 1",
        "  br label %loop",
        "done:",
        "  store i64 %pos, ptr %stopp",
        "  ret i64 %i",
        "}",
        "",
    ]


def ir_functions() -> list[str]:
    """Both indexers, for the runtime library's module."""
    return ["declare i32 @llvm.bswap.i32(i32)", "", *pcap_function(), *pcapng_function()]


__all__ = ["PCAPNG_SYMBOL", "PCAP_SYMBOL", "ir_functions"]
