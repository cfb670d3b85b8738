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
CTX_SLOTS = 48

# Region table entry: live start address, live end address (exclusive), permission flags.
REGION_WORDS = 3
FLAG_READ = 1
FLAG_WRITE = 2

# -- status codes -------------------------------------------------------------------------------
STATUS_OK = 0
STATUS_ABORT = 1  # the program ended early with r0 = REGS[0] (legacy packet load past the end)
STATUS_MEMORY = 2  # a load or store failed its region check (FAULT_* say which)
STATUS_BUDGET = 3  # the instruction budget ran out at FAULT_PC (a block leader)
STATUS_CALL_DEPTH = 4  # a local call at FAULT_PC would exceed the frame limit
STATUS_PYTHON = 5  # the callback recorded a Python exception; re-raise it
STATUS_CALLX_TARGET = 6  # callx into the code region but not at a function entry (FAULT_ADDR)
STATUS_RAN_OFF = 7  # execution fell off the end of the program
STATUS_NO_PACKET = 8  # a legacy packet load with no packet bound

# -- callback into Python: u64 cb(i64 kind, i64 a, u64 r1, u64 r2, u64 r3, u64 r4, u64 r5, i64 pc) ----
CB_HELPER = 0  # a = helper id
CB_CALLX = 1  # a = register value that is not a code address (a helper id, or garbage)
CB_KFUNC = 2  # a = BTF id
CB_PSEUDO = 3  # a = lddw src, r1 = imm, r2 = next imm
CB_KIND_MASK = 0xF
CB_FRAME_SHIFT = 4  # kind also carries the caller's frame depth: kind | frames << CB_FRAME_SHIFT

ENTRY_SYMBOL = "pybpf_entry"  # i64 (ptr ctx): zero the stack, run from ctx[ENTRY], return r0
RUN_SYMBOL = "pybpf_run"  # i64 (): pybpf_entry(CTX_GLOBAL) -- an argument-free call is ~150 ns cheaper
CTX_GLOBAL = "pybpf_ctx"  # ptr: the context of the runner that last used this code
CALL_SYMBOL = "pybpf_call"  # i64 (ptr ctx): run function ctx[CALL_ENTRY] on the live stack; 0 = ok
