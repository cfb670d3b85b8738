"""Running one program over many inputs in one native call (``JitEngine.run_batch``).

A Python -> native crossing costs 0.1-0.5 us, more than a short packet filter takes to run.  The
batch entry point ``@pybpf_batch(ctx, batch)`` loops over N items in native code: the items are
byte ranges (offset, length) of one buffer, the results (r0 of each run) go to a u64 array.
Each item is a complete, independent run with exactly the semantics of ``run``: fresh registers,
a zeroed stack, the instruction count from 0, the item as the legacy packet; and its memory is
*only* the item: the region-table row of the buffer is narrowed to the item's bytes for its run,
so reading past an item faults exactly as it would with a buffer of its own.

Two ways to hand the item to the program:

* memory mode (no :class:`BatchContext`): ``r1`` = the item's address (0 when it is empty),
  ``r2`` = its length -- ``run(mem)``'s convention, for ``syscall``-style programs;
* context mode (:class:`BatchContext`): ``r1`` = a context the caller owns (``struct xdp_md``,
  ``__sk_buff`` ...), rebuilt natively before each item from a template plus pointer patches:
  each patch writes the address of the item's data, its end or its metadata (4 bytes: the low
  half, as in the 32-bit fields of kernel contexts; 8 bytes: the whole address, as in the shadow
  slots of :mod:`pybpf.progtypes.platform`'s shadow pointer contract).  The item is used in
  place, or copied into a frame buffer at a headroom (as XDP places packets in a page after 256
  bytes of headroom), the bytes an earlier item left in the frame being zeroed first.

When native code cannot finish an item by itself (a fault, a tail call, a budget hand-over, an
error from a helper), it stops at that item; Python finishes or raises for it (the exception
carries ``batch_index``) and native code resumes with the next one.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from pybpf.jit import abi
from pybpf.vm.memory import Buffer, Region

if TYPE_CHECKING:
    from pybpf.vm.interpreter import Interpreter

DATA, DATA_END, DATA_META = abi.PATCH_DATA, abi.PATCH_DATA_END, abi.PATCH_DATA_META


@dataclass
class BatchContext:
    """How to build ``r1`` for each item (context mode of :meth:`JitEngine.run_batch`).

    ``region`` is the context (it must be in the engine's memory); ``template`` is copied to its
    start before every item; ``pointers`` are ``(offset, size, which)`` patches applied after the
    copy, ``which`` one of :data:`DATA`, :data:`DATA_END`, :data:`DATA_META` and ``size`` 4 or 8.
    With ``frame`` (a region in the engine's memory) each item is copied to ``frame`` at
    ``headroom``; ``narrow`` keeps the frame's live part equal to the item (unverified programs:
    anything outside the packet faults) instead of the whole frame (verified programs, which are
    proven to stay inside the packet).  ``copy_back`` (with a frame) copies the item's bytes
    from the frame back into ``data`` after each run that returned, so the caller sees the
    packet as the program left it (a capture runner writing modified packets out) while the
    program still sees the frame's headroom and addresses.  Without a frame the item stays
    where it is.

    For XDP (``pybpf.progtypes.xdp``): ``region`` = the state's context region, ``template`` =
    the ``xdp_md`` with ``ingress_ifindex``/``rx_queue_index`` set, ``pointers`` = the three packet
    fields at offsets 0, 4, 8 (size 4) and their shadows at 24, 32, 40 (size 8), ``frame`` = the
    packet page with ``headroom`` 256.
    """

    region: Region
    template: bytes = b""
    pointers: Sequence[tuple[int, int, int]] = field(default_factory=tuple)
    frame: Region | None = None
    headroom: int = 0
    narrow: bool = True
    copy_back: bool = False

    def __post_init__(self) -> None:
        if len(self.template) > self.region.size:
            raise ValueError(f"template of {len(self.template)} bytes does not fit a {self.region.size}-byte context")
        for off, size, which in self.pointers:
            if (
                size not in (4, 8)
                or which not in (DATA, DATA_END, DATA_META)
                or not 0 <= off <= self.region.size - size
            ):
                raise ValueError(f"bad pointer patch {(off, size, which)}")
        if self.frame is not None and not 0 <= self.headroom <= self.frame.size:
            raise ValueError(f"headroom {self.headroom} outside the {self.frame.size}-byte frame")


class _Window:
    """An item as the legacy packet: the engines read only ``buf``, ``size`` and ``base`` of
    their ``packet`` (a view, so no copy per item)."""

    __slots__ = ("base", "buf", "size")

    def __init__(self, buf: Buffer, first: int, length: int, base: int) -> None:
        self.buf = memoryview(buf)[first : first + length]
        self.size = length
        self.base = base


def item_window(buf: Buffer, first: int, length: int, base: int) -> Region:
    """``buf[first:first + length]`` at address ``base``, as an engine's ``packet``."""
    return cast(Region, _Window(buf, first, length, base))


def batch_function() -> list[str]:
    """``i64 @pybpf_batch(ptr ctx, ptr batch)``: run items ``batch[NEXT]`` .. ``batch[N] - 1``.

    Part of the runtime library (one copy for every program): the program is entered through
    ``batch[ENTRY]`` after the per-run context slots were reset from ``batch[RUN_TEMPLATE]``
    (Python's per-run template: registers, status, count, budget, the outermost frame).
    Returns 0 when all ran (``NEXT`` = N), else the status of the item it stopped at (``NEXT`` =
    that item, ``ctx[STATUS]`` and the fault slots describe it).  A run that ended early through
    ``STATUS_ABORT`` (legacy packet load past the end, a helper's abort) is a normal result.
    """
    a = abi

    def bload(name: str, word: int) -> list[str]:
        return [f"  %w{name} = getelementptr i64, ptr %b, i64 {word}", f"  %{name} = load i64, ptr %w{name}"]

    def cstore(slot: int, value: str) -> list[str]:
        return [f"  %q{slot} = getelementptr i64, ptr %ctx, i64 {slot}", f"  store i64 {value}, ptr %q{slot}"]

    return [
        f"define i64 @{a.BATCH_SYMBOL}(ptr %ctx, ptr %b) nounwind {{",
        "entry:",
        *bload("n", a.BATCH_N),
        *bload("start", a.BATCH_NEXT),
        *bload("data", a.BATCH_DATA),
        *bload("size", a.BATCH_SIZE),
        *bload("offv", a.BATCH_OFFSETS),
        *bload("lenv", a.BATCH_LENGTHS),
        *bload("outv", a.BATCH_OUT),
        *bload("cx", a.BATCH_CTX),
        *bload("tmpl", a.BATCH_TEMPLATE),
        *bload("tlen", a.BATCH_TEMPLATE_LEN),
        *bload("patv", a.BATCH_PATCHES),
        *bload("npat", a.BATCH_NPATCHES),
        *bload("frame", a.BATCH_FRAME),
        *bload("fsize", a.BATCH_FRAME_SIZE),
        *bload("head", a.BATCH_HEADROOM),
        *bload("entryv", a.BATCH_ENTRY),
        *bload("runv", a.BATCH_RUN_TEMPLATE),
        *bload("cbv", a.BATCH_COPY_BACK),
        "  %offs = inttoptr i64 %offv to ptr",
        "  %lens = inttoptr i64 %lenv to ptr",
        "  %outs = inttoptr i64 %outv to ptr",
        "  %pats = inttoptr i64 %patv to ptr",
        "  %ctxp = inttoptr i64 %cx to ptr",
        "  %tmplp = inttoptr i64 %tmpl to ptr",
        "  %framep = inttoptr i64 %frame to ptr",
        "  %entryf = inttoptr i64 %entryv to ptr",
        "  %runp = inttoptr i64 %runv to ptr",
        f"  %prow = getelementptr i64, ptr %b, i64 {a.BATCH_ROW}",
        "  %ctxmode = icmp ne i64 %cx, 0",
        "  %copy = icmp ne i64 %frame, 0",
        "  %cbset = icmp ne i64 %cbv, 0",
        "  %copyback = and i1 %copy, %cbset",
        f"  %pdirty = getelementptr i64, ptr %b, i64 {a.BATCH_FRAME_DIRTY}",
        "  br label %loop",
        "loop:",
        "  %i = phi i64 [%start, %entry], [%i1, %store]",
        "  %more = icmp ult i64 %i, %n",
        "  br i1 %more, label %item, label %alldone",
        "item:",
        "  %po = getelementptr i64, ptr %offs, i64 %i",
        "  %off = load i64, ptr %po",
        "  %pl = getelementptr i64, ptr %lens, i64 %i",
        "  %len = load i64, ptr %pl",
        "  %room = sub i64 %size, %off",
        "  %offok = icmp ule i64 %off, %size",
        "  %lenok = icmp ule i64 %len, %room",
        "  %fits = and i1 %offok, %lenok",
        "  br i1 %fits, label %placed, label %baditem",
        "placed:",
        "  %itemaddr = add i64 %data, %off",
        "  br i1 %copy, label %tocopy, label %inplace",
        "tocopy:",
        "  %froom = sub i64 %fsize, %head",
        "  %ffits = icmp ule i64 %len, %froom",
        "  br i1 %ffits, label %docopy, label %baditem",
        "docopy:",
        "  %dirty = load i64, ptr %pdirty",
        "  call void @llvm.memset.p0.i64(ptr %framep, i8 0, i64 %dirty, i1 false)",
        "  %dst = getelementptr i8, ptr %framep, i64 %head",
        "  %srcp = inttoptr i64 %itemaddr to ptr",
        "  call void @llvm.memcpy.p0.p0.i64(ptr %dst, ptr %srcp, i64 %len, i1 false)",
        "  %newdirty = add i64 %head, %len",
        "  store i64 %newdirty, ptr %pdirty",
        "  %copied = add i64 %frame, %head",
        "  br label %inplace",
        "inplace:",
        "  %pdata = phi i64 [%itemaddr, %placed], [%copied, %docopy]",
        "  %pend = add i64 %pdata, %len",
        "  %row = load i64, ptr %prow",  # per item: a helper may have moved the region table
        "  %hasrow = icmp ne i64 %row, 0",
        "  br i1 %hasrow, label %setrow, label %mode",
        "setrow:",
        "  %rowp = inttoptr i64 %row to ptr",
        "  %rowe = getelementptr i64, ptr %rowp, i64 1",
        "  store i64 %pdata, ptr %rowp",
        "  store i64 %pend, ptr %rowe",
        "  br label %mode",
        "mode:",
        "  br i1 %ctxmode, label %buildctx, label %memmode",
        "memmode:",
        "  %empty = icmp eq i64 %len, 0",
        "  %m1 = select i1 %empty, i64 0, i64 %pdata",
        "  br label %regs",
        "buildctx:",
        "  call void @llvm.memcpy.p0.p0.i64(ptr %ctxp, ptr %tmplp, i64 %tlen, i1 false)",
        "  br label %patch",
        "patch:",
        "  %k = phi i64 [0, %buildctx], [%k1, %patched]",
        "  %pmore = icmp ult i64 %k, %npat",
        "  br i1 %pmore, label %pbody, label %ctxdone",
        "pbody:",
        f"  %pk = getelementptr [{a.BATCH_PATCH_WORDS} x i64], ptr %pats, i64 %k",
        "  %poff = load i64, ptr %pk",
        "  %pszp = getelementptr i64, ptr %pk, i64 1",
        "  %psz = load i64, ptr %pszp",
        "  %pwp = getelementptr i64, ptr %pk, i64 2",
        "  %pw = load i64, ptr %pwp",
        f"  %isend = icmp eq i64 %pw, {a.PATCH_DATA_END}",
        "  %pv = select i1 %isend, i64 %pend, i64 %pdata",
        "  %dstp = getelementptr i8, ptr %ctxp, i64 %poff",
        "  %is4 = icmp eq i64 %psz, 4",
        "  br i1 %is4, label %p4, label %p8",
        "p4:",
        "  %pv4 = trunc i64 %pv to i32",
        "  store i32 %pv4, ptr %dstp, align 1",
        "  br label %patched",
        "p8:",
        "  store i64 %pv, ptr %dstp, align 1",
        "  br label %patched",
        "patched:",
        "  %k1 = add i64 %k, 1",
        "  br label %patch",
        "ctxdone:",
        "  br label %regs",
        "regs:",
        "  %r1 = phi i64 [%m1, %memmode], [%cx, %ctxdone]",
        "  %r2 = phi i64 [%len, %memmode], [0, %ctxdone]",
        f"  call void @llvm.memcpy.p0.p0.i64(ptr %ctx, ptr %runp, i64 {8 * a.RUN_SLOTS}, i1 false)",
        *cstore(a.REGS + 1, "%r1"),
        *cstore(a.REGS + 2, "%r2"),
        *cstore(a.PACKET_BASE, "%pdata"),
        *cstore(a.PACKET_LEN, "%len"),
        *cstore(a.HAS_PACKET, "1"),
        "  %r0 = call i64 %entryf(ptr %ctx)",
        f"  %pst = getelementptr i64, ptr %ctx, i64 {a.STATUS}",
        "  %s = load i64, ptr %pst",
        f"  %isok = icmp ule i64 %s, {a.STATUS_ABORT}",
        "  br i1 %isok, label %next, label %stopped",
        "next:",
        "  br i1 %copyback, label %putback, label %store",
        "putback:",  # the item as the program left it, back where it came from
        "  %cbdst = inttoptr i64 %itemaddr to ptr",
        "  %cbsrc = getelementptr i8, ptr %framep, i64 %head",
        "  call void @llvm.memcpy.p0.p0.i64(ptr %cbdst, ptr %cbsrc, i64 %len, i1 false)",
        "  br label %store",
        "store:",
        "  %pout = getelementptr i64, ptr %outs, i64 %i",
        "  store i64 %r0, ptr %pout",
        "  %i1 = add i64 %i, 1",
        "  br label %loop",
        "baditem:",
        f"  %pst2 = getelementptr i64, ptr %ctx, i64 {a.STATUS}",
        f"  store i64 {a.STATUS_BAD_ITEM}, ptr %pst2",
        "  store i64 %i, ptr %wstart",
        f"  ret i64 {a.STATUS_BAD_ITEM}",
        "stopped:",
        "  store i64 %i, ptr %wstart",
        "  ret i64 %s",
        "alldone:",
        "  store i64 %n, ptr %wstart",
        "  ret i64 0",
        "}",
        "",
    ]


def interpret_batch(
    machine: Interpreter,
    data: bytes | bytearray | memoryview | Region,
    offsets: Sequence[int],
    lengths: Sequence[int],
    out: array[int] | None,
    context: BatchContext | None,
    run_item: Callable[[Callable[[], int]], int] | None = None,
) -> array[int]:
    """The batch semantics in Python, one ``Interpreter.execute`` per item (the tiered engine's
    batches before it has native code): same registers, same narrowed memory, same context
    building, same results and ``batch_index`` on errors as the native loop."""
    from pybpf.vm.interpreter import Interpreter

    n = len(offsets)
    if len(lengths) != n:
        raise ValueError(f"{n} offsets but {len(lengths)} lengths")
    if out is None:
        out = array("Q", bytes(8 * n))
    elif not (isinstance(out, array) and out.typecode == "Q") or len(out) < n:
        raise ValueError("out must be an array('Q') with room for every result")
    region = (
        data if isinstance(data, Region) else Region("batch", data if isinstance(data, bytearray) else bytearray(data))
    )
    memory = machine.memory
    frame = context.frame if context is not None else None
    added = frame is None and region not in list(memory)
    if added:
        memory.add(region)
    narrowed = (region if frame is None else frame) if (context is None or context.narrow) else None
    saved = (narrowed.lo, narrowed.hi) if narrowed is not None else (0, 0)
    dirty = frame.size if frame is not None else 0
    step: Callable[[Callable[[], int]], int] = run_item or (lambda run: run())
    try:
        for i in range(n):
            off, length = int(offsets[i]), int(lengths[i])
            if off > region.size or length > region.size - off:
                raise ValueError(f"batch item {i} (offset {off}, length {length}) does not fit its buffer")
            if context is not None and frame is not None:
                head = context.headroom
                if length > frame.size - head:
                    raise ValueError(
                        f"batch item {i} (offset {off}, length {length}) does not fit its buffer or the frame"
                    )
                frame.buf[:dirty] = bytes(dirty)
                frame.buf[head : head + length] = region.buf[off : off + length]
                dirty = head + length
                start, holder, first = frame.base + head, frame, head
            else:
                start, holder, first = region.base + off, region, off
            if narrowed is not None:
                narrowed.lo, narrowed.hi = start - narrowed.base, start - narrowed.base + length
            window = item_window(holder.buf, first, length, start)
            if context is None:
                regs = [0, start if length else 0, length] + [0] * 8
            else:
                ctx = context.region
                ctx.buf[: len(context.template)] = context.template
                for p_off, size, which in context.pointers:
                    value = start + length if which == DATA_END else start
                    ctx.buf[p_off : p_off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
                regs = [0, ctx.base] + [0] * 9
            machine.packet = window

            def run(regs: list[int] = regs) -> int:
                return Interpreter.execute(machine, regs)

            try:
                out[i] = step(run) & 0xFFFF_FFFF_FFFF_FFFF
                if context is not None and frame is not None and context.copy_back:
                    region.buf[off : off + length] = frame.buf[context.headroom : context.headroom + length]
            except BaseException as exc:
                exc.batch_index = i  # type: ignore[attr-defined]
                exc.add_note(f"(batch item {i})")
                raise
            finally:
                machine.packet = None
        return out
    finally:
        if narrowed is not None:
            narrowed.lo, narrowed.hi = saved
        if added:
            memory.remove(region)
