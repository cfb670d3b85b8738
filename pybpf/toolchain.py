"""Compiling C to eBPF objects with clang, the way every test, example and plugin is built.

One place knows the flags: ``-target bpf -O2 -g`` plus the multiarch include directory (for
``asm/types.h`` on Debian), ``-fdebug-compilation-dir=.`` so that objects record no path of the
machine that built them (and are byte-identical wherever they are rebuilt), and the ``-mcpu``
level.  cpu v1-v3 build with the default ``clang``; v4 needs clang >= 18 (Debian's ``clang-19``).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from pybpf.errors import PybpfError

V4_CANDIDATES = ("clang-21", "clang-20", "clang-19", "clang-18")


class ToolchainError(PybpfError):
    pass


@functools.cache
def multiarch_include() -> list[str]:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        return []
    try:
        triplet = subprocess.run([gcc, "-print-multiarch"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return []
    directory = Path("/usr/include") / triplet
    return [f"-I{directory}"] if triplet and directory.is_dir() else []


def find_clang(cpu: str = "") -> str:
    """The clang to use for ``-mcpu=cpu`` (v4 needs a newer clang than Debian bookworm's default)."""
    candidates = V4_CANDIDATES if cpu == "v4" else ("clang", *V4_CANDIDATES)
    for name in candidates:
        if shutil.which(name):
            return name
    need = "clang >= 18 (apt-get install clang-19)" if cpu == "v4" else "clang (apt-get install clang llvm libbpf-dev)"
    raise ToolchainError(f"no compiler for eBPF found: install {need}")


def compile_bpf(
    source: Path, output: Path, *, cpu: str = "", extra: list[str] | None = None, cwd: Path | None = None
) -> Path:
    """Compile one C file to an eBPF object; the error names the file and shows clang's output."""
    clang = find_clang(cpu)
    args = [clang, "-target", "bpf", "-O2", "-g", "-fdebug-compilation-dir=.", *multiarch_include()]
    if cpu:
        args.append(f"-mcpu={cpu}")
    args += [*(extra or []), "-c", str(source), "-o", str(output)]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        raise ToolchainError(f"{source}: clang failed:\n{proc.stderr.strip()}")
    return output
