"""Writes one layer: tar entries -> gzip -> file, hashing both sides on the way.

A layer streams once (never whole in memory): the tar writer feeds `LayerSink`, which
hashes the uncompressed bytes (the config's diff_id), compresses them (isal when
installed, else zlib; the gzip header carries no name and mtime 0 so equal input gives
equal bytes) and hashes the compressed bytes (the manifest's digest) while writing them
to a file in the blob directory.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import tarfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any


@functools.cache
def _deflate() -> tuple[ModuleType, int]:
    """isal (several times faster than zlib at the same ratio) and its level, else zlib;
    imported on first use: a build whose steps all hit writes no layer."""
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - depends on the platform
        return zlib, 5
    return isal_zlib, 2


COPY_BUFSIZE = 1 << 20
GZIP_WBITS = 31  # gzip container, header with mtime 0 and no file name


@dataclass(frozen=True)
class LayerBlob:
    """A finished layer: compressed file + its two digests."""

    path: Path
    digest: str  # sha256 of the compressed bytes
    diff_id: str  # sha256 of the tar bytes
    size: int  # compressed size
    media_type: str = "application/vnd.oci.image.layer.v1.tar+gzip"


MEDIA_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
ZSTD_LEVEL = 3


def _compressor(compression: str) -> Any:
    """A compressobj-style object (compress/flush) for the layer's compression."""
    if compression == "gzip":
        module, level = _deflate()
        return module.compressobj(level, zlib.DEFLATED, GZIP_WBITS)
    if compression == "zstd":
        import zstandard  # only builds that ask for zstd pay for the import

        return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=False).compressobj()
    raise ValueError(f"unsupported layer compression {compression!r}: use gzip or zstd")


class LayerSink:
    """A write-only file object: tar bytes in, compressed bytes to `path`."""

    def __init__(self, path: Path, compression: str = "gzip") -> None:
        self.path = path
        self.media_type = MEDIA_TYPES.get(compression, "")
        self._compressor = _compressor(compression)
        self._file = open(path, "wb")  # noqa: SIM115 - closed in finish()
        self._tar_hash = hashlib.sha256()
        self._gz_hash = hashlib.sha256()
        self._size = 0
        self._written = 0

    def tell(self) -> int:
        return self._written

    def write(self, data: bytes) -> int:
        self._written += len(data)
        self._tar_hash.update(data)
        self._emit(self._compressor.compress(data))
        return len(data)

    def _emit(self, data: bytes) -> None:
        if data:
            self._gz_hash.update(data)
            self._file.write(data)
            self._size += len(data)

    def finish(self) -> LayerBlob:
        self._emit(self._compressor.flush())
        self._file.close()
        return LayerBlob(
            self.path,
            "sha256:" + self._gz_hash.hexdigest(),
            "sha256:" + self._tar_hash.hexdigest(),
            self._size,
            self.media_type,
        )

    def abort(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Entry:
    """One tar entry to write: a host path stored under `name`, or a whiteout marker."""

    name: str  # archive path, no leading slash
    source: Path | None  # host file (lstat'ed), None for a whiteout/opaque marker
    kind: str = "path"  # "path" | "whiteout" | "opaque"


def whiteout_name(name: str) -> str:
    head, _, base = name.rpartition("/")
    return f"{head}/.wh.{base}" if head else f".wh.{base}"


def opaque_name(directory: str) -> str:
    return f"{directory}/.wh..wh..opq" if directory else ".wh..wh..opq"


def _clamp(mtime: float, epoch: int | None) -> int:
    value = int(mtime)
    return min(value, epoch) if epoch is not None else value


def write_layer(
    entries: Iterable[Entry], path: Path, epoch: int | None = None, compression: str = "gzip"
) -> LayerBlob:
    """Writes the entries (already in the wanted order) as a gzip (or zstd) layer at `path`.

    `epoch` (SOURCE_DATE_EPOCH / --reproducible) clamps every mtime. Owner names are
    left empty: images carry numeric ids, names would leak the build host's passwd.
    """
    sink = LayerSink(path, compression)
    try:
        # mode "w" on a sink that only appends (tell() counts): no seek, no extra buffer
        with tarfile.TarFile(
            fileobj=sink,  # type: ignore[arg-type]
            mode="w",
            format=tarfile.PAX_FORMAT,
            copybufsize=COPY_BUFSIZE,
        ) as tar:
            links: dict[tuple[int, int], str] = {}
            for entry in entries:
                _add(tar, entry, links, epoch)
    except BaseException:
        sink.abort()
        raise
    return sink.finish()


def _marker(name: str, epoch: int | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = epoch or 0
    info.mode = 0o644
    return info


# overlayfs's own bookkeeping on an upper dir (opaque, origin, impure...): never image data
OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")


def _add_xattrs(info: tarfile.TarInfo, source: Path) -> None:
    """The file's extended attributes (capabilities, user.*) as PAX records, sorted, as
    the applier (dockyard.oci.layers) and Docker/BuildKit read them."""
    try:
        names = os.listxattr(source, follow_symlinks=False)
    except OSError:
        return  # a filesystem without xattrs
    records: dict[str, str] = {}
    for name in sorted(names):
        if name.startswith(OVERLAY_XATTRS):
            continue
        try:
            value = os.getxattr(source, name, follow_symlinks=False)
        except OSError:
            continue
        records[f"SCHILY.xattr.{name}"] = value.decode("utf-8", "surrogateescape")
    if records:
        info.pax_headers = records


def _add(
    tar: tarfile.TarFile, entry: Entry, links: dict[tuple[int, int], str], epoch: int | None
) -> None:
    if entry.kind == "whiteout":
        tar.addfile(_marker(whiteout_name(entry.name), epoch))
        return
    if entry.kind == "opaque":
        tar.addfile(_marker(opaque_name(entry.name), epoch))
        return
    assert entry.source is not None
    st = os.lstat(entry.source)
    info = tarfile.TarInfo(entry.name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = _clamp(st.st_mtime, epoch)
    mode = st.st_mode
    if not stat.S_ISLNK(mode):
        _add_xattrs(info, entry.source)
    if stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            info.type = tarfile.LNKTYPE
            info.linkname = links[key]
            tar.addfile(info)
            return
        if st.st_nlink > 1:
            links[key] = entry.name
        info.size = st.st_size
        with open(entry.source, "rb") as f:
            tar.addfile(info, f)
        return
    if stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(entry.source)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        return  # sockets do not belong in a layer
    tar.addfile(info)
