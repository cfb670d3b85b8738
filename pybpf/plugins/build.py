"""Building plugins: compile a plugin directory's C files with clang and pack a zip.

Conventions (overridable in the manifest's ``build`` section):

* sources: ``build.sources`` if given, else every object ``X.o`` the bytecodes name is compiled
  from ``X.c`` in the plugin directory;
* flags: pybpf's usual eBPF flags (:func:`pybpf.toolchain.compile_bpf`), ``-I`` for ``plugin.h``
  and for the plugin directory (so a host header copied there is found), then ``build.cflags``;
  ``build.cpu`` selects ``-mcpu``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from pybpf.plugins.faults import PluginError
from pybpf.plugins.manifest import Manifest, parse
from pybpf.plugins.package import MANIFEST, PluginPackage
from pybpf.toolchain import compile_bpf


def cflags() -> list[str]:
    """The flags a plugin's C code needs beyond pybpf's eBPF defaults."""
    from pybpf.plugins import include_dir

    return [f"-I{include_dir()}"]


def sources(directory: Path, manifest: Manifest) -> dict[str, Path]:
    """Object name -> C source, by the manifest's build section or the X.o <- X.c convention."""
    out: dict[str, Path] = {}
    if manifest.sources:
        for name in manifest.sources:
            path = directory / name
            if not path.is_file():
                raise PluginError(f"{directory / MANIFEST}: build.sources: {name} does not exist")
            out[Path(name).with_suffix(".o").name] = path
        return out
    for obj in manifest.objects():
        source = directory / Path(obj).with_suffix(".c")
        if not source.is_file():
            raise PluginError(
                f"{directory / MANIFEST}: object {obj} has no source {source.name} (and no build.sources)"
            )
        out[obj] = source
    return out


def build(
    directory: str | Path,
    output: str | Path | None = None,
    *,
    workdir: str | Path | None = None,
    extra_cflags: list[str] | None = None,
    cwd: str | Path | None = None,
) -> PluginPackage:
    """Compile the plugin in ``directory``; write the zip to ``output`` if given; return the package.

    ``workdir`` keeps the objects (default: a temporary directory); ``extra_cflags`` go after the
    manifest's (``-I`` for a host header that lives elsewhere, say).  ``cwd`` is where clang runs
    (default: the current directory): with a ``-ffile-prefix-map`` making source paths relative,
    clang reads the source lines it puts in the BTF line info from paths relative to it."""
    d = Path(directory)
    mpath = d / MANIFEST
    if not mpath.is_file():
        raise PluginError(f"{d}: no {MANIFEST}")
    raw = mpath.read_bytes()
    manifest = parse(raw, str(mpath))
    objects: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(workdir) if workdir is not None else Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        for obj, src in sources(d, manifest).items():
            target = out_dir / obj
            target.parent.mkdir(parents=True, exist_ok=True)
            compile_bpf(
                src,
                target,
                cpu=manifest.cpu,
                extra=[*cflags(), f"-I{d.resolve()}", *manifest.cflags, *(extra_cflags or [])],
                cwd=Path(cwd) if cwd is not None else None,
            )
            objects[obj] = target.read_bytes()
    missing = [o for o in manifest.objects() if o not in objects]
    if missing:
        raise PluginError(f"{mpath}: objects {', '.join(missing)} are not built by build.sources")
    package = PluginPackage(manifest, objects, str(d))
    if output is not None:
        Path(output).write_bytes(package.to_zip())
    return package


def pack(directory: str | Path, output: str | Path) -> PluginPackage:
    """Zip an already built plugin directory (manifest and objects)."""
    package = PluginPackage.open(directory)
    Path(output).write_bytes(package.to_zip())
    return package


def manifest_text(manifest: Manifest) -> str:
    return json.dumps(manifest.raw, indent=2)


def check(package: PluginPackage, host: Any = None) -> list[str]:
    """Verify every bytecode of ``package`` against the plugin platform; one line per bytecode.

    Without a host only what the package alone decides is checked (objects, sections, API
    permissions and modes, the verifier); with a :class:`~pybpf.plugins.host.Host` the plugin is
    loaded as an insertion would (operations, fields), into a throw-away endpoint.  Raises
    :class:`~pybpf.plugins.faults.PluginError` at the first problem.
    """
    from pybpf.elf.loader import open_object as open_elf
    from pybpf.plugins.instance import PluginInstance, _api_id, _program
    from pybpf.plugins.platform import PROG_TYPE, check_calls, plugin_platform, verifier_options
    from pybpf.verifier import VerifierError, verify

    m = package.manifest
    lines = []
    if host is not None:
        ep = host.endpoint("pybpf-plugin-check")
        host.endpoints.remove(ep)
        inst = PluginInstance.load(package, host, ep.resolver(()), engine="interp")
        for bc in inst.bytecodes.values():
            lines.append(
                f"{bc.name}: ok ({bc.instructions} instructions, {bc.safe_accesses} accesses proven, "
                f"{bc.mode.value} {bc.operation.name})"
            )
        return lines
    for entry in m.bytecodes:
        where = f"plugin {m.id}: bytecode {entry.name} ({entry.object}"
        try:
            elf = open_elf(package.objects[entry.object], name=entry.object, helpers=_api_id)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin {m.id}: object {entry.object}: {exc}") from None
        prog = _program(elf, entry, where + ")")
        where = f"{where}:{prog.section})"
        check_calls(prog.insns, entry.permissions, entry.mode, where)
        try:
            result = verify(
                prog.insns,
                PROG_TYPE,
                maps=elf.maps,
                platform=plugin_platform(entry.permissions, entry.mode),
                options=verifier_options(),
            )
        except VerifierError as exc:
            raise PluginError(f"{where}: rejected by the verifier at {exc}") from None
        lines.append(
            f"{entry.name}: ok ({len(prog.insns)} instructions, {len(result.safe)} accesses proven, "
            f"{entry.mode.value} {entry.operation})"
        )
    return lines


__all__ = ["build", "cflags", "check", "pack", "sources"]
