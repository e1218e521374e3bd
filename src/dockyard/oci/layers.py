"""Layer tars: safe apply into a root filesystem, and deterministic streaming writing.

Applying (`apply_layer`) treats the tar as hostile:

* every entry name is cleaned lexically; an absolute name or one whose `..` climbs above the
  root is refused (`UnsafeLayerError`) before anything of that entry is written;
* parent directories are resolved component by component *inside* the root: a symlink in a
  parent is followed as the container would see it (absolute targets and `..` are clamped to the
  root), so `evil -> /etc` then `evil/passwd` writes `ROOT/etc/passwd`, never the host's;
* the final component is never followed: an existing symlink there is replaced, files are
  created with O_NOFOLLOW|O_EXCL;
* hardlink targets are resolved the same way and must already exist inside the root;
* character and block devices are NOT created unless `allow_devices=True` and we run as root;
  otherwise they are skipped and listed in `ApplyResult.skipped` (a device node in a build rootfs
  would hand the RUN sandbox raw host devices). FIFOs are created;
* whiteouts: `.wh.NAME` deletes NAME from lower layers, `.wh..wh..opq` empties the directory of
  everything lower layers put there (applied after the layer, so the layer's own entries stay);
* ownership, setuid/setgid bits and xattrs are applied when running as root (`same_owner`);
  modes and mtimes always (directory metadata last, so adding children does not change it).

Writing (`LayerWriter`) streams tar -> compress -> file in one pass, hashing the tar (diff_id) and
the compressed bytes (digest) on the way; entries are written in the order given (`add_tree`
sorts), with uid/gid as numbers, no user names, and an optional fixed or clamped mtime so the
same input gives the same digest (`--reproducible`, SOURCE_DATE_EPOCH); `owner` forces every
entry to one uid:gid (a rootfs prepared by an unprivileged user).
"""

from __future__ import annotations

import errno
import io
import logging
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from dockyard.atomicfile import AtomicFile
from dockyard.oci import mediatypes
from dockyard.oci.compression import compressing_writer, decompressing_reader
from dockyard.oci.digest import DigestMismatch, HashingReader, HashingWriter
from dockyard.oci.models import Descriptor
from dockyard.oci.tarstream import ReadAhead, TarStream, TarStreamError

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
_MAX_SYMLINKS = 40
_XATTR_PAX = "SCHILY.xattr."


class LayerError(ValueError):
    """A layer that cannot be applied (corrupt tar, impossible entry); names the entry."""


class UnsafeLayerError(LayerError):
    """A layer entry that tries to reach outside the root filesystem; nothing of it was written."""


@dataclass
class ApplyResult:
    """What applying a layer did: the tar's digest, entry count, skipped entries."""

    diff_id: str
    entries: int
    skipped: list[str] = field(default_factory=list)


def clean_entry_name(name: str, what: str = "entry") -> str:
    """Lexically clean a tar path to `a/b/c` relative to the root ('' is the root itself)."""
    if "\x00" in name:
        raise UnsafeLayerError(f"layer {what} {name!r} contains a NUL byte")
    if name.startswith("/"):
        raise UnsafeLayerError(
            f"layer {what} {name!r} is an absolute path; layer paths must be relative to the root"
        )
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafeLayerError(
                    f"layer {what} {name!r} escapes the root filesystem with '..'"
                )
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


class _Applier:
    def __init__(self, root: Path, same_owner: bool, allow_devices: bool, whiteouts: bool) -> None:
        self.root = os.path.realpath(root)
        self.whiteouts = whiteouts
        self.same_owner = same_owner
        self.allow_devices = allow_devices and os.geteuid() == 0
        self.created: set[str] = set()
        self.dir_meta: dict[str, tarfile.TarInfo] = {}
        self.opaque: list[str] = []
        self.skipped: list[str] = []
        self.restore_modes: dict[str, int] = {}
        self.is_root = os.geteuid() == 0
        self.umask = _process_umask()  # what os.open takes off a new file's mode
        # resolved parent directories; cleared whenever a directory or symlink is removed or
        # replaced (new entries only add paths, so they cannot make a cached resolution stale)
        self.resolved: dict[str, str] = {}

    # -- path resolution -------------------------------------------------------------------
    def resolve_dir(self, rel: str, create: bool, entry: str) -> str | None:
        """Host path of directory `rel` resolved inside the root (None: missing, no `create`)."""
        cached = self.resolved.get(rel)
        if cached is not None:
            return cached
        stack = [p for p in reversed(rel.split("/")) if p]
        current: list[str] = []
        links = 0
        while stack:
            part = stack.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if current:
                    current.pop()
                continue
            candidate = os.path.join(self.root, *current, part)
            try:
                st = os.lstat(candidate)
            except FileNotFoundError:
                if not create:
                    return None
                self._ensure_writable(os.path.join(self.root, *current))
                os.mkdir(candidate, 0o755)
                self.created.add(candidate)
                current.append(part)
                continue
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > _MAX_SYMLINKS:
                    raise LayerError(f"layer entry {entry!r}: too many levels of symbolic links")
                target = os.readlink(candidate)
                if target.startswith("/"):
                    current = []
                stack.extend(p for p in reversed(target.split("/")) if p)
                continue
            if not stat.S_ISDIR(st.st_mode):
                shown = "/".join([*current, part])
                raise LayerError(
                    f"layer entry {entry!r}: parent /{shown} exists and is not a directory"
                )
            current.append(part)
        resolved = os.path.join(self.root, *current)
        self.resolved[rel] = resolved
        return resolved

    def _ensure_writable(self, directory: str) -> None:
        """As non-root, a read-only directory from a lower layer still has to take new entries."""
        if self.is_root or os.access(directory, os.W_OK | os.X_OK):
            return
        mode = stat.S_IMODE(os.lstat(directory).st_mode)
        self.restore_modes.setdefault(directory, mode)
        os.chmod(directory, mode | stat.S_IRWXU)

    def locate(self, name: str, create_parents: bool = True) -> tuple[str, str] | None:
        """(parent host dir, basename) of a cleaned entry name."""
        parent_rel, _, base = name.rpartition("/")
        parent = self.resolve_dir(parent_rel, create_parents, name)
        if parent is None:
            return None
        self._ensure_writable(parent)
        return parent, base

    # -- removal ---------------------------------------------------------------------------
    def remove(self, path: str) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            self.resolved.clear()
            shutil.rmtree(path)
        else:
            if stat.S_ISLNK(st.st_mode):
                self.resolved.clear()
            os.unlink(path)

    # -- entries ---------------------------------------------------------------------------
    def apply(self, tar: TarStream) -> int:
        count = 0
        for member in tar.members():
            count += 1
            try:
                self.apply_member(tar, member)
            except LayerError:
                raise
            except OSError as exc:
                raise LayerError(f"layer entry {member.name!r}: {exc.strerror or exc}") from exc
        self.finish()
        return count

    def apply_member(self, tar: TarStream, member: tarfile.TarInfo) -> None:
        name = clean_entry_name(member.name)
        if name == "":
            return  # the root directory itself: its metadata belongs to the rootfs owner
        base = name.rpartition("/")[2]
        if self.whiteouts and base.startswith(WHITEOUT_PREFIX):
            self.whiteout(name, base)
            return
        linkname = None
        if member.islnk():
            linkname = clean_entry_name(member.linkname, "hardlink target")
            if not linkname:
                raise UnsafeLayerError(
                    f"layer entry {member.name!r}: hardlink to the root directory"
                )
        located = self.locate(name)
        assert located is not None
        parent, base = located
        path = os.path.join(parent, base)
        if member.isdir():
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(path).st_mode):
                    self.remove(path)
                    os.mkdir(path, 0o755)
            self.created.add(path)
            self.dir_meta[path] = member
            return
        if (member.ischr() or member.isblk()) and not self.allow_devices:
            kind = "character" if member.ischr() else "block"
            msg = (
                f"skipped {kind} device /{name} ({member.devmajor}:{member.devminor}):"
                " device nodes are not created in a build root filesystem"
            )
            log.warning(msg)
            self.skipped.append(msg)
            return
        if linkname is not None:
            self.hardlink(member, linkname, path)
            return
        self.created.add(path)
        if member.isreg():
            self.write_file(tar, member, path)
            return
        if member.issym():
            self.create(path, lambda: os.symlink(member.linkname, path))
        elif member.isfifo():
            self.create(path, lambda: os.mkfifo(path, 0o600))
        elif member.ischr() or member.isblk():
            node_type = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            device = os.makedev(member.devmajor, member.devminor)
            self.create(path, lambda: os.mknod(path, node_type | 0o600, device))
        else:
            raise LayerError(
                f"layer entry {member.name!r}: unsupported tar entry type {member.type!r}"
            )
        self.set_meta(path, member)

    def create(self, path: str, make: Callable[[], None]) -> None:
        """`make` never follows or overwrites: whatever lower layers had there is removed
        first (tried only when the name is taken: most entries are new)."""
        try:
            make()
        except FileExistsError:
            self.remove(path)
            make()

    def write_file(self, tar: TarStream, member: tarfile.TarInfo, path: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        mode = stat.S_IMODE(member.mode)
        created_mode = mode & 0o777 & ~self.umask
        fds: list[int] = []
        self.create(path, lambda: fds.append(os.open(path, flags, created_mode)))
        fd = fds[0]
        try:
            tar.write_data(fd)
            if self.same_owner:  # always: a setgid parent gives new files its group
                os.fchown(fd, member.uid, member.gid)
            if mode != created_mode:  # setuid/setgid (cleared by chown) are set here, after it
                os.fchmod(fd, mode)
            os.utime(fd, ns=(_ns(member.mtime), _ns(member.mtime)))
        finally:
            os.close(fd)
        self.set_xattrs(path, member)

    def hardlink(self, member: tarfile.TarInfo, linkname: str, path: str) -> None:
        located = self.locate(linkname, create_parents=False)
        target = os.path.join(*located) if located else None
        try:
            target_st = os.lstat(target) if target else None
        except FileNotFoundError:
            target_st = None
        if target is None or target_st is None:
            raise LayerError(
                f"layer entry {member.name!r}: hardlink target {member.linkname!r}"
                " does not exist in the layer or below"
            )
        if stat.S_ISDIR(target_st.st_mode):
            raise UnsafeLayerError(
                f"layer entry {member.name!r}: hardlink to a directory ({member.linkname!r})"
            )
        if os.path.realpath(os.path.dirname(target)) != os.path.dirname(target):
            raise UnsafeLayerError(
                f"layer entry {member.name!r}: hardlink target resolves outside the root"
            )
        try:
            if os.path.samestat(os.lstat(path), target_st):
                return
        except FileNotFoundError:
            pass
        self.remove(path)
        os.link(target, path, follow_symlinks=False)
        self.created.add(path)

    def whiteout(self, name: str, base: str) -> None:
        located = self.locate(name, create_parents=False)
        if located is None:
            return  # the directory does not exist below: nothing to hide
        parent, _ = located
        if base == OPAQUE_WHITEOUT:
            self.created.add(parent)
            self.opaque.append(parent)
            return
        if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # other aufs metadata (.wh..wh.plnk and friends) has no meaning here
        hidden = base[len(WHITEOUT_PREFIX) :]
        if hidden in ("", ".", ".."):
            raise UnsafeLayerError(f"layer entry {name!r}: invalid whiteout")
        target = os.path.join(parent, hidden)
        if target in self.created:
            return  # whiteouts hide lower layers only, never this layer's own files
        self.remove(target)

    def set_meta(self, path: str, member: tarfile.TarInfo) -> None:
        if self.same_owner:  # also directories that lower layers made with another owner
            os.lchown(path, member.uid, member.gid)
        if not member.issym():
            os.chmod(path, stat.S_IMODE(member.mode))
        self.set_xattrs(path, member)
        os.utime(path, ns=(_ns(member.mtime), _ns(member.mtime)), follow_symlinks=False)

    def set_xattrs(self, path: str, member: tarfile.TarInfo) -> None:
        if not self.same_owner:
            return
        for key, value in member.pax_headers.items():
            if not key.startswith(_XATTR_PAX):
                continue
            attr = key[len(_XATTR_PAX) :]
            try:
                os.setxattr(
                    path, attr, value.encode("utf-8", "surrogateescape"), follow_symlinks=False
                )
            except OSError as exc:
                if exc.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise
                self.skipped.append(
                    f"xattr {attr} on {path[len(self.root) :]} not set: {exc.strerror}"
                )

    def finish(self) -> None:
        for directory in self.opaque:
            self._empty_lower(directory)
        for path in sorted(self.dir_meta, key=lambda p: p.count("/"), reverse=True):
            if os.path.isdir(path) and not os.path.islink(path):
                self.set_meta(path, self.dir_meta[path])
                self.restore_modes.pop(path, None)
        for path, mode in self.restore_modes.items():
            if os.path.isdir(path):
                os.chmod(path, mode)

    def _empty_lower(self, directory: str) -> None:
        for entry in os.scandir(directory):
            if entry.path in self.created:
                if entry.is_dir(follow_symlinks=False):
                    self._empty_lower(entry.path)
                continue
            self.remove(entry.path)


def _process_umask() -> int:
    """The umask, read without changing it (os.umask would race with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o777  # unknown: every file gets an explicit chmod



def _ns(mtime: float) -> int:
    return int(mtime * 1_000_000_000)


def apply_layer(
    source: Path | BinaryIO,
    root: Path,
    *,
    compression: str | None = None,
    expected_diff_id: str | None = None,
    same_owner: bool | None = None,
    allow_devices: bool = False,
    whiteouts: bool = True,
) -> ApplyResult:
    """Apply one layer blob (tar, tar+gzip or tar+zstd; detected when `compression` is None).

    Streams: the blob is never held in memory. Returns the diff_id of the uncompressed tar; when
    `expected_diff_id` is given a mismatch raises DigestMismatch (after applying: verify the
    compressed digest before calling, as the blob cache does). `whiteouts=False` extracts
    `.wh.` files as ordinary files (ADD of a plain archive, not an image layer).
    """
    root = Path(root)
    if not root.is_dir():
        raise LayerError(f"root filesystem {root} is not a directory")
    owner = os.geteuid() == 0 if same_owner is None else same_owner
    applier = _Applier(root, owner, allow_devices, whiteouts)
    if isinstance(source, (str, Path)):
        with open(source, "rb") as f:
            return _apply_stream(f, applier, compression, expected_diff_id)
    return _apply_stream(source, applier, compression, expected_diff_id)


def _apply_stream(
    raw: BinaryIO, applier: _Applier, compression: str | None, expected_diff_id: str | None
) -> ApplyResult:
    reader = HashingReader(decompressing_reader(raw, compression))
    source = ReadAhead(reader.read)
    try:
        count = applier.apply(TarStream(source))
        source.drain()
    except (TarStreamError, EOFError) as exc:
        raise LayerError(f"layer is not a valid tar archive: {exc}") from exc
    except (OSError, ValueError) as exc:
        if isinstance(exc, LayerError):
            raise
        raise LayerError(f"layer could not be decompressed: {exc}") from exc
    finally:
        source.close()
    if expected_diff_id is not None and reader.digest != expected_diff_id:
        raise DigestMismatch(expected_diff_id, reader.digest, "uncompressed layer")
    return ApplyResult(diff_id=reader.digest, entries=count, skipped=applier.skipped)


# ---------------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class LayerInfo:
    """A written layer blob: where it is and how to describe it."""

    path: Path
    digest: str
    diff_id: str
    size: int
    uncompressed_size: int
    compression: str
    media_type: str

    def descriptor(self, annotations: dict[str, str] | None = None) -> Descriptor:
        return Descriptor(
            media_type=self.media_type, digest=self.digest, size=self.size, annotations=annotations
        )


class LayerWriter:
    """Write a layer tar, compressed, into `path` in one streaming pass.

    Use as a context manager or call `close()`; until then the data is in a temp file next to
    `path`, and an exception discards it.
    """

    def __init__(
        self,
        path: Path,
        compression: str = "gzip",
        *,
        docker_media_type: bool = False,
        mtime: int | None = None,
        clamp_mtime: int | None = None,
        level: int | None = None,
        xattrs: bool = True,
        owner: tuple[int, int] | None = None,
    ) -> None:
        self.path = Path(path)
        self.owner = owner
        self.compression = compression
        self.media_type = mediatypes.layer_media_type(compression, docker_media_type)
        self.mtime = mtime
        self.clamp_mtime = clamp_mtime
        self.xattrs = xattrs
        self._atomic = AtomicFile(self.path, prefix=".layer-")
        self._file = self._atomic.file
        self._compressed = HashingWriter(self._file)
        self._compressor = compressing_writer(self._compressed, compression, level)
        self._tar_hash = HashingWriter(self._compressor)
        self._tar = tarfile.open(  # noqa: SIM115 - closed in close()
            fileobj=cast(Any, self._tar_hash),
            mode="w|",
            format=tarfile.PAX_FORMAT,
        )
        self._inodes: dict[tuple[int, int], str] = {}
        self._closed = False
        self.result: LayerInfo | None = None

    def __enter__(self) -> LayerWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _time(self, mtime: float) -> int:
        if self.mtime is not None:
            return self.mtime
        value = int(mtime)
        if self.clamp_mtime is not None and value > self.clamp_mtime:
            return self.clamp_mtime
        return value

    def add(self, arcname: str, source: Path | str) -> None:
        """Add `source` (file, dir, symlink, fifo or device; not followed) as `arcname`.

        A directory adds only its own entry (use add_tree for contents). A second path to an
        inode already written becomes a hardlink entry. Sockets are skipped, as Docker does.
        """
        name = clean_entry_name(arcname, "path")
        if not name:
            raise LayerError("cannot add the root directory itself as a layer entry")
        st = os.lstat(source)
        info = tarfile.TarInfo(name)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = self.owner or (st.st_uid, st.st_gid)
        info.uname = info.gname = ""
        info.mtime = self._time(st.st_mtime)
        if self.xattrs:
            info.pax_headers = _read_xattrs(source)
        fileobj = None
        if stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self._inodes:
                info.type = tarfile.LNKTYPE
                info.linkname = self._inodes[key]
            else:
                if st.st_nlink > 1:
                    self._inodes[key] = name
                info.type = tarfile.REGTYPE
                info.size = st.st_size
                fileobj = open(source, "rb")  # noqa: SIM115 - closed below
        elif stat.S_ISDIR(st.st_mode):
            info.type = tarfile.DIRTYPE
            info.name = name + "/"
        elif stat.S_ISLNK(st.st_mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(source)
        elif stat.S_ISFIFO(st.st_mode):
            info.type = tarfile.FIFOTYPE
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISSOCK(st.st_mode):
            log.debug("skipping socket %s: sockets do not go into layers (as in Docker)", source)
            return
        else:
            raise LayerError(f"{source}: special file of unknown type cannot go into a layer")
        try:
            self._tar.addfile(info, fileobj)
        finally:
            if fileobj is not None:
                fileobj.close()

    def add_tree(
        self, directory: Path | str, prefix: str = "", *, include_root: bool = True
    ) -> None:
        """Add `directory` and everything below it (sorted, symlinks kept) under `prefix`."""
        directory = Path(directory)
        prefix = clean_entry_name(prefix, "path")
        if include_root and prefix:
            self.add(prefix, directory)
        for dirpath, dirnames, filenames in os.walk(directory):
            dirnames.sort()
            rel = os.path.relpath(dirpath, directory)
            base = prefix if rel == "." else (f"{prefix}/{rel}" if prefix else rel)
            for name in sorted(dirnames + filenames):
                arc = f"{base}/{name}" if base else name
                self.add(arc, os.path.join(dirpath, name))
            # os.walk does not descend into symlinked dirs; they were added as symlinks above

    def add_tar(self, source: BinaryIO, compression: str | None = None) -> int:
        """Copy every entry of a (rootfs) tar, streaming, in its order; returns the entry count.

        Names are cleaned and escapes refused exactly as `apply_layer` does, so a hostile tar
        cannot smuggle `../` or absolute paths into an image. Ownership and devices are kept
        (nothing is extracted, so this works without root). The tar's root entry is dropped.
        """
        count = 0
        try:
            reader = decompressing_reader(source, compression)
            with tarfile.open(fileobj=cast(Any, reader), mode="r|") as tar:
                for member in tar:
                    name = clean_entry_name(member.name)
                    if not name:
                        continue
                    if member.islnk():
                        member.linkname = clean_entry_name(member.linkname, "hardlink target")
                    if not (
                        member.isreg()
                        or member.isdir()
                        or member.issym()
                        or member.islnk()
                        or member.ischr()
                        or member.isblk()
                        or member.isfifo()
                    ):
                        raise LayerError(
                            f"tar entry {member.name!r}: unsupported type {member.type!r}"
                        )
                    member.name = name + "/" if member.isdir() else name
                    member.mtime = self._time(member.mtime)
                    member.uname = member.gname = ""
                    if self.owner is not None:
                        member.uid, member.gid = self.owner
                    member.pax_headers = {
                        k: v for k, v in member.pax_headers.items() if k.startswith(_XATTR_PAX)
                    }
                    self._tar.addfile(member, tar.extractfile(member) if member.isreg() else None)
                    count += 1
        except tarfile.TarError as exc:
            raise LayerError(f"not a valid tar archive: {exc}") from exc
        return count

    def add_bytes(
        self,
        arcname: str,
        data: bytes,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        mtime: int = 0,
    ) -> None:
        """Add a regular file with the given content (generated files like /etc/hostname)."""
        info = tarfile.TarInfo(clean_entry_name(arcname, "path"))
        info.size, info.mode, info.uid, info.gid = len(data), mode, uid, gid
        info.mtime = self._time(mtime)
        self._tar.addfile(info, io.BytesIO(data))

    def add_directory(
        self, arcname: str, mode: int = 0o755, uid: int = 0, gid: int = 0, mtime: int = 0
    ) -> None:
        info = tarfile.TarInfo(clean_entry_name(arcname, "path") + "/")
        info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, uid, gid
        info.mtime = self._time(mtime)
        self._tar.addfile(info)

    def add_symlink(
        self, arcname: str, target: str, uid: int = 0, gid: int = 0, mtime: int = 0
    ) -> None:
        info = tarfile.TarInfo(clean_entry_name(arcname, "path"))
        info.type, info.linkname, info.mode, info.uid, info.gid = (
            tarfile.SYMTYPE,
            target,
            0o777,
            uid,
            gid,
        )
        info.mtime = self._time(mtime)
        self._tar.addfile(info)

    def add_whiteout(self, arcname: str) -> None:
        """Mark `arcname` deleted (a `.wh.` file next to it)."""
        parent, _, base = clean_entry_name(arcname, "path").rpartition("/")
        self.add_bytes(
            f"{parent}/{WHITEOUT_PREFIX}{base}" if parent else WHITEOUT_PREFIX + base, b"", 0o600
        )

    def add_opaque(self, directory: str) -> None:
        """Hide everything lower layers have in `directory` (opaque whiteout)."""
        name = clean_entry_name(directory, "path")
        self.add_bytes(f"{name}/{OPAQUE_WHITEOUT}" if name else OPAQUE_WHITEOUT, b"", 0o600)

    def close(self) -> LayerInfo:
        if self.result is not None:
            return self.result
        self._tar.close()
        self._compressor.close()
        self._atomic.commit()
        self.result = LayerInfo(
            path=self.path,
            digest=self._compressed.digest,
            diff_id=self._tar_hash.digest,
            size=self._compressed.size,
            uncompressed_size=self._tar_hash.size,
            compression=self.compression,
            media_type=self.media_type,
        )
        return self.result

    def abort(self) -> None:
        if self.result is None:
            self._tar_hash.detach()
            self._atomic.cancel()


def _read_xattrs(path: Path | str) -> dict[str, str]:
    """xattrs worth keeping in an image: file capabilities and user.* (not overlayfs' own)."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out: dict[str, str] = {}
    for attr in sorted(names):
        if attr == "security.capability" or (
            attr.startswith("user.") and not attr.startswith("user.overlay.")
        ):
            try:
                value = os.getxattr(path, attr, follow_symlinks=False)
            except OSError:
                continue
            out[_XATTR_PAX + attr] = value.decode("utf-8", "surrogateescape")
    return out


def write_layer(
    path: Path,
    entries: Iterable[tuple[str, Path | str | None]],
    compression: str = "gzip",
    **options: Any,
) -> LayerInfo:
    """Write a layer from (arcname, source) pairs, sorted by path; source None = whiteout."""
    with LayerWriter(path, compression, **options) as writer:
        for arcname, source in sorted(
            entries, key=lambda e: clean_entry_name(e[0], "path").split("/")
        ):
            if source is None:
                writer.add_whiteout(arcname)
            else:
                writer.add(arcname, source)
    assert writer.result is not None
    return writer.result


def write_layer_from_dir(
    path: Path, directory: Path, compression: str = "gzip", **options: Any
) -> LayerInfo:
    """Write the whole tree under `directory` as a layer (its root entry itself excluded)."""
    with LayerWriter(path, compression, **options) as writer:
        writer.add_tree(directory, "")
    assert writer.result is not None
    return writer.result
