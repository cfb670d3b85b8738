"""Plugin packages: a directory or a zip file holding ``manifest.json`` and eBPF objects.

A package is read completely when opened (manifest and every object the manifest names), so a
plugin inserted later never touches the file system again, and a zip received from a peer is
checked before anything of it is used: member names must be plain relative paths, sizes are
bounded, and every object the manifest names must be present.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pybpf.plugins.faults import PluginError
from pybpf.plugins.manifest import Manifest, ManifestError, parse

MANIFEST = "manifest.json"
MAX_PACKAGE_BYTES = 16 * 1024 * 1024
MAX_MEMBER_BYTES = 8 * 1024 * 1024


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
"""The date of every member of a zip :meth:`PluginPackage.to_zip` writes."""


@dataclass(frozen=True)
class PluginPackage:
    """A manifest and the bytes of the objects it names."""

    manifest: Manifest
    objects: dict[str, bytes]
    source: str = ""

    @property
    def id(self) -> str:
        return self.manifest.id

    @classmethod
    def open(cls, path: str | Path) -> PluginPackage:
        """Read a plugin directory or zip file."""
        p = Path(path)
        if p.is_dir():
            return cls._from_dir(p)
        if p.is_file():
            return cls.from_zip(p.read_bytes(), str(p))
        raise PluginError(f"{p}: no such plugin directory or zip file")

    @classmethod
    def from_zip(cls, data: bytes, source: str = "<zip>") -> PluginPackage:
        """Read a zip archive given as bytes (a file, or a plugin received over the network)."""
        if len(data) > MAX_PACKAGE_BYTES:
            raise PluginError(f"{source}: {len(data)} bytes is larger than the {MAX_PACKAGE_BYTES}-byte package limit")
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise PluginError(f"{source}: not a plugin zip file ({exc})") from None
        members: dict[str, bytes] = {}
        with archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                name = _member_name(info.filename, source)
                if info.file_size > MAX_MEMBER_BYTES:
                    raise PluginError(f"{source}: {name} is larger than {MAX_MEMBER_BYTES} bytes")
                try:
                    members[name] = archive.read(info)
                except (zipfile.BadZipFile, OSError, ValueError) as exc:
                    raise PluginError(f"{source}: cannot read {name}: {exc}") from None
        if MANIFEST not in members:
            raise PluginError(f"{source}: no {MANIFEST} at the top of the archive")
        manifest = parse(members[MANIFEST], f"{source}:{MANIFEST}")
        return cls(manifest, _objects(manifest, members, source), source)

    @classmethod
    def _from_dir(cls, directory: Path) -> PluginPackage:
        mpath = directory / MANIFEST
        if not mpath.is_file():
            raise PluginError(f"{directory}: no {MANIFEST}")
        manifest = parse(mpath.read_bytes(), str(mpath))
        members: dict[str, bytes] = {}
        for name in manifest.objects():
            _member_name(name, str(mpath))
            f = directory / name
            if f.is_file():
                members[name] = f.read_bytes()
        return cls(manifest, _objects(manifest, members, str(directory)), str(directory))

    def to_zip(self) -> bytes:
        """The package as a zip archive (manifest and objects).

        Reproducible: every member carries the same fixed date (the zip epoch, 1980-01-01) and
        mode, so the same package always gives the same bytes (a committed prebuilt plugin does
        not change when it is rebuilt)."""
        import json

        buf = io.BytesIO()
        members = [(MANIFEST, (json.dumps(self.manifest.raw, indent=2) + "\n").encode()),
                   *sorted(self.objects.items())]
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                z.writestr(info, data)
        return buf.getvalue()


def _member_name(name: str, source: str) -> str:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or "\\" in name or not p.parts:
        raise PluginError(f"{source}: member {name!r} is not a plain relative path")
    return str(p)


def _objects(manifest: Manifest, members: dict[str, bytes], source: str) -> dict[str, bytes]:
    objects: dict[str, bytes] = {}
    for entry in manifest.bytecodes:
        _member_name(entry.object, source)
        if entry.object not in members:
            raise ManifestError(
                source, f"bytecodes.{entry.name}.object", f"object file {entry.object!r} is not in the package"
            )
        objects[entry.object] = members[entry.object]
    return objects


__all__ = ["MANIFEST", "PluginPackage"]
