"""The contract between generated native code and the Python side of the JIT.

Native code and Python share one *context*: an array of 64-bit slots that Python allocates per
engine (a ``bytearray``, so it can be packed and unpacked with :mod:`struct` at C speed) and hands
to the native entry point (as its argument, or through the code's ``pybpf_ctx`` global).  Everything that differs between engines
or runs lives there (register file, budget, addresses of the stack and code regions, the region
table, the callback into Python), which is what lets one compiled object be cached on disk and
shared by every engine that runs the same bytecode: the object code contains no addresses.

The numbers below are the only place the slot layout, status codes and callback kinds are
defined; :mod:`pybpf.jit.lower` emits them into IR and :mod:`pybpf.jit.runtime` reads them back.
"""

from __future__ import annotations

# -- context slots (index of a 64-bit slot) ---------------------------------------------------
# Slots [0, RUN_SLOTS) are rewritten on every run (one copy of a per-engine template).
REGS = 0  # r0..r10 (11 slots): input registers, registers at exit, snapshot at helper calls
STATUS = 11  # 0 while running normally; a STATUS_* code when native code stopped early
ENTRY = 12  # instruction index of the function to enter
COUNT = 13  # instructions executed (counted per basic block, as the interpreter does)
BUDGET = 14  # instruction budget of this run
STACK_LO = 15  # lowest live stack address (moves down by one frame per local call)
PACKET_BASE = 16  # legacy packet loads: address and length of the packet
PACKET_LEN = 17
HAS_PACKET = 18
RUN_SLOTS = 19  # slots [0, RUN_SLOTS) are written per run
# Per engine (written once, or when the region set changes):
STACK_END = 19  # one past the top of the stack region (r10 of the outermost frame)
STACK_BASE = 20  # lowest address of the stack region
CODE_BASE = 21  # the code region: function addresses are CODE_BASE + 8 * index
CODE_END = 22
NREGIONS = 23  # region table: NREGIONS entries of REGION_WORDS u64 at address REGIONS
REGIONS = 24
CALLBACK = 25  # address of the Python callback (see CB_*)
# Written by native code when it stops with STATUS_MEMORY / BUDGET / CALL_DEPTH / CALLX_TARGET:
FAULT_PC = 26
FAULT_ADDR = 27
FAULT_SIZE = 28
FAULT_WRITE = 29
# A helper calling back into the program (``env.call_function``, e.g. bpf_loop) enters through
# the second entry point with these: the function, its r10, and r0-r9 in and out.
CALL_ENTRY = 30
CALL_R10 = 31
CALL_REGS = 32  # 10 slots
# Stack hygiene: every run starts with a zeroed stack (the interpreter's rule).  Instead of
# clearing the whole stack region per run, native code clears [DIRTY_LO, STACK_END): functions
# lower DIRTY_LO to the bottom of their frame when they may write it, Python lowers it when a
# helper may have written the live part.  Never part of the per-run template.
DIRTY_LO = 42
# Relocated ``lddw`` (map references ...): a per-engine table of RELOC_WORDS u64 per site,
# (resolved?, value), so the resolver runs once per site and engine, as Linux resolves them once
# at load time.
RELOCS = 43
# Native map helpers (see :mod:`pybpf.jit.maps`): a table of NMAPS descriptors at MAPS, the
# helper ids whose registered implementation is pybpf's own (bit ``1 << id``), the current CPU.
MAPS = 44
NMAPS = 45
NATIVE_HELPERS = 46
CPU = 47
# A budget hand-over (STATUS_TRANSFER): callers of the stopping function append their frames
# here (XFER_N records of XFER_WORDS: return index, r6-r9, r10) so Python can go on interpreting.
XFER = 48
XFER_N = 49
# Functions of the runtime library (pybpf.jit.rtlib), shared by every program: generated code
# calls them through these slots, so that it neither contains nor compiles them.
LOOKUP_FN = 50  # i1 preserve_most (ctx, addr, size, write, pc, count): is the access allowed (then cached)
QUIET_PC = -1  # a lookup's pc that asks it to record nothing on a miss
MAP_LOOKUP_FN = 51  # {i64, i1} (ctx, map, key, stack lo, stack end, site): see pybpf.jit.maps
MAP_UPDATE_FN = 52  # {i64, i1} (ctx, map, key, value, flags, stack lo, stack end)
MAP_DELETE_FN = 53  # {i64, i1} (ctx, map, key, stack lo, stack end)
# The region caches of memory checks (see "Memory checks" in pybpf.jit.lower): the start of the
# region the last read / write check found, then for each access size s in CACHE_SIZES the largest
# offset from that start at which an s-byte access still fits (its span - s).
RCACHE = 54  # 5 slots
WCACHE = 59  # 5 slots
CACHE_SIZES = (1, 2, 4, 8)
# Inline caches of map lookup call sites (helper 1): SITE_WORDS u64 per site at SITES, filled by
# the runtime library for array maps -- (handle, address of value 0 on this CPU, max_entries,
# stride) -- so the next lookup on that map from that site is a few inline instructions.
SITES = 64
SITE_WORDS = 4
# The argument table of table helpers (see pybpf.helpers.registry.Helper.table): address and
# number of u64 entries, set by the engine's set_table (0 entries: every call goes to Python).
TABLE = 65
NTABLE = 66
# i1 (ctx, addr, size, write): does [addr, addr + size) lie in one region with that permission
# (the guard of a versioned loop, see pybpf.jit.loops; records nothing)
PROBE_FN = 67
CTX_SLOTS = 72

# Region table entry: live start address, live end address (exclusive), permission flags.
REGION_WORDS = 3
FLAG_READ = 1
FLAG_WRITE = 2
RELOC_WORDS = 2
XFER_WORDS = 6

# -- status codes -------------------------------------------------------------------------------
STATUS_OK = 0
STATUS_ABORT = 1  # the program ended early with r0 = REGS[0] (legacy packet load past the end)
STATUS_MEMORY = 2  # a load or store failed its region check (FAULT_* say which)
STATUS_BUDGET = 3  # reserved (budgets are enforced through STATUS_TRANSFER)
STATUS_CALL_DEPTH = 4  # a local call at FAULT_PC would exceed the frame limit
STATUS_PYTHON = 5  # the callback recorded a Python exception; re-raise it
STATUS_CALLX_TARGET = 6  # callx into the code region but not at a function entry (FAULT_ADDR)
STATUS_RAN_OFF = 7  # execution fell off the end of the program
STATUS_NO_PACKET = 8  # a legacy packet load with no packet bound
# The budget might run out before the next check: native code stopped at the block leader
# FAULT_PC with REGS = the registers there and COUNT = the instructions before it; Python
# interprets the rest of the run (see pybpf.jit.lower, "Budget").
STATUS_TRANSFER = 9

# -- callback into Python: u64 cb(i64 kind, i64 a, u64 r1, u64 r2, u64 r3, u64 r4, u64 r5, i64 pc) ----
CB_HELPER = 0  # a = helper id
CB_CALLX = 1  # a = register value that is not a code address (a helper id, or garbage)
CB_KFUNC = 2  # a = BTF id
CB_PSEUDO = 3  # a = lddw src, r1 = imm, r2 = next imm
CB_KIND_MASK = 0xF
CB_FRAME_SHIFT = 4  # kind also carries the caller's frame depth: kind | frames << CB_FRAME_SHIFT

# -- native map helpers: descriptor words (MAP_WORDS u64 per map) ----------------------------------
MAP_WORDS = 16
MAP_HANDLE = 0  # the map's handle (what lddw map puts in a register)
MAP_KIND = 1  # MAP_KIND_ARRAY or MAP_KIND_HASH
MAP_FLAGS = 2  # MAPF_* bits
MAP_ARMED = 3  # 1 while this engine holds the map's lock (native updates/deletes allowed)
MAP_BASE = 4  # address of the map's buffer (its layout: pybpf.maps.array / pybpf.maps.hash)
MAP_KEY_SIZE = 5
MAP_VALUE_SIZE = 6
MAP_MAX_ENTRIES = 7
MAP_VS = 8  # value stride (round8(value_size))
MAP_VN = 9  # values per element: ncpus for per-CPU maps, else 1
MAP_VO = 10  # offset of the values area
MAP_LOCK_OFF = 11  # offset of a bpf_spin_lock in the value, -1 if none
MAP_BMASK = 12  # hash: n_buckets - 1
MAP_EL = 13  # hash: offset of the elements
MAP_ES = 14  # hash: element stride
MAP_KIND_ARRAY = 1
MAP_KIND_HASH = 2
MAPF_PERCPU = 1
MAPF_RDONLY_PROG = 2
MAPF_VISIBLE = 4  # the map's memory is in the machine's region set (lookups may return pointers into it)
MAP_TABLE_ENTRIES = 32
MAX_NATIVE_KEY = 64  # hash keys longer than this are left to the Python helpers

# -- batch descriptor (BATCH_WORDS u64), argument of the batch entry point -------------------------
BATCH_N = 0  # number of items
BATCH_NEXT = 1  # first item to run; native code leaves here the item it stopped at
BATCH_DATA = 2  # address of the buffer holding the items
BATCH_SIZE = 3  # its size: an item outside it stops the batch with STATUS_BAD_ITEM
BATCH_OFFSETS = 4  # address of N u64 offsets into the buffer
BATCH_LENGTHS = 5  # address of N u64 lengths
BATCH_OUT = 6  # address of N u64 results (r0)
BATCH_ROW = 7  # region-table row of the memory holding the item as the program sees it (live
#                bounds set to the item, as if each item were its own region), or 0
BATCH_CTX = 8  # context mode: address of the context (r1); 0 = r1/r2 are the item and its length
BATCH_TEMPLATE = 9  # context mode: template copied over the context before each item
BATCH_TEMPLATE_LEN = 10
BATCH_PATCHES = 11  # context mode: address of BATCH_PATCH_WORDS-u64 pointer patches
BATCH_NPATCHES = 12
BATCH_FRAME = 13  # context mode: copy each item into this buffer at BATCH_HEADROOM (0 = in place)
BATCH_FRAME_SIZE = 14
BATCH_HEADROOM = 15
BATCH_FRAME_DIRTY = 16  # bytes of the frame an earlier item may have written (zeroed per item)
BATCH_ENTRY = 17  # the program's entry point, i64 (ptr ctx) -> r0
BATCH_RUN_TEMPLATE = 18  # RUN_SLOTS u64 copied over the context's per-run slots before each item
BATCH_COPY_BACK = 19  # frame mode: non-zero = copy the item's bytes back from the frame after its run
BATCH_WORDS = 20
BATCH_PATCH_WORDS = 3  # (offset in the context, size 4 or 8, PATCH_*)
PATCH_DATA = 0  # the item's first byte
PATCH_DATA_END = 1  # one past its last byte
PATCH_DATA_META = 2  # metadata start (= data: batch items carry no metadata)
STATUS_BAD_ITEM = 10  # batch only: an item does not fit its buffer (or the frame)

ENTRY_SYMBOL = "pybpf_entry"  # i64 (ptr ctx): zero the stack, run from ctx[ENTRY], return r0
RUN_SYMBOL = "pybpf_run"  # i64 (): pybpf_entry(CTX_GLOBAL) -- an argument-free call is ~150 ns cheaper
CTX_GLOBAL = "pybpf_ctx"  # ptr: the context of the runner that last used this code
CALL_SYMBOL = "pybpf_call"  # i64 (ptr ctx): run function ctx[CALL_ENTRY] on the live stack; 0 = ok
# Runtime library symbols:
BATCH_SYMBOL = "pybpf_batch"  # i64 (ptr ctx, ptr batch): run items from BATCH_NEXT; 0 = all done
LOOKUP_SYMBOL = "pybpf_lookup"
PROBE_SYMBOL = "pybpf_probe"
MAP_SYMBOLS = ("pybpf_map_lookup", "pybpf_map_update", "pybpf_map_delete")
