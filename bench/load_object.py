"""Loading speed: open + link + create maps for a ~1000-instruction object with 10 maps.

Usage: python bench/load_object.py [--repeats N]

The object is generated as C, compiled once with clang, then loaded repeatedly; the script prints
the instruction count, the map count and the best / median time of the open (parse, link) and
load (create maps, bind engines) phases in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pybpf.object import open_object
from pybpf.toolchain import compile_bpf

N_MAPS = 10


def source(n_maps: int = N_MAPS, rounds: int = 36) -> str:
    lines = ["#include <linux/bpf.h>", "#include <bpf/bpf_helpers.h>"]
    for i in range(n_maps):
        kind = "BPF_MAP_TYPE_HASH" if i % 2 else "BPF_MAP_TYPE_ARRAY"
        lines.append(
            f'struct {{ __uint(type, {kind}); __uint(max_entries, 256); __type(key, __u32); __type(value, __u64); }} m{i} SEC(".maps");'
        )
    lines.append('SEC("syscall") int big(__u32 *in) {')
    lines.append("    __u64 acc = 0; __u32 k;")
    for r in range(rounds):
        m = r % n_maps
        lines.append(
            f"    k = in[{r % 4}] + {r}; {{ __u64 *v = bpf_map_lookup_elem(&m{m}, &k); if (v) {{ acc += *v * {r + 3}; *v = acc ^ {r}; }} else {{ __u64 x = acc + {r}; bpf_map_update_elem(&m{m}, &k, &x, BPF_ANY); }} }}"
        )
    lines.append("    return (int)acc; }")
    lines.append('char _license[] SEC("license") = "GPL";')
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "big.c"
        src.write_text(source())
        obj_path = compile_bpf(src, Path(tmp) / "big.o")
        data = obj_path.read_bytes()
    opens, loads = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        opened = open_object(data)
        t1 = time.perf_counter()
        loaded = opened.load(engine="interp")
        t2 = time.perf_counter()
        opens.append((t1 - t0) * 1e3)
        loads.append((t2 - t1) * 1e3)
    insns = len(opened.elf.programs[0].insns)
    total = [a + b for a, b in zip(opens, loads, strict=True)]
    print(f"object: {insns} instructions, {len(loaded.maps)} maps")
    print(f"{'phase':<22} {'best ms':>8} {'median ms':>10}")
    print(f"{'open (parse + link)':<22} {min(opens):>8.2f} {statistics.median(opens):>10.2f}")
    print(f"{'load (maps, engines)':<22} {min(loads):>8.2f} {statistics.median(loads):>10.2f}")
    print(f"{'total':<22} {min(total):>8.2f} {statistics.median(total):>10.2f}")


if __name__ == "__main__":
    main()
