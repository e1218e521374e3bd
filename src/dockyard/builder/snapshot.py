"""Turns what a step changed into layer entries, and folds the change into the rootfs.

Two ways to know what changed:
- overlay (the fast path): the upper directory holds exactly the changes; a 0/0
  character device is a deletion, a directory with the `overlay.opaque` xattr replaced
  the lower one. `upper_entries` translates that into OCI whiteouts.
- tree diff (the fallback where overlay is not allowed): `TreeState` records every
  path's lstat before the step; `tree_diff_entries` compares after. ctime is part of the
  record, so a rewrite that keeps size and mtime is still seen.

`merge_upper` then moves the upper's files into the rootfs (renames, no copying) so the
next step's lower layer is the stage as it now is.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dockyard.builder.layer_writer import Entry

OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str | Path) -> bool:
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def remove_placeholders(upper: Path, created: list[str]) -> None:
    """Removes mount points the sandbox created, if the step left them empty."""
    for container_path in sorted(created, key=len, reverse=True):
        path = upper / container_path.lstrip("/")
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            with contextlib.suppress(OSError):  # the step put something there: keep it
                os.rmdir(path)
        elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
            path.unlink()


def prune_copied_up_dirs(upper: Path, lower: Path) -> None:
    """Drops directories overlay copied up only because a child was touched and then
    removed again (or a mount point lived there): same mode and owner as below, empty."""
    for dirpath, _dirnames, _files in os.walk(upper, topdown=False):
        if dirpath == str(upper):
            continue
        try:
            if os.listdir(dirpath) or is_opaque(dirpath):
                continue
            rel = os.path.relpath(dirpath, upper)
            below = os.lstat(lower / rel)
            here = os.lstat(dirpath)
        except OSError:
            continue
        if (
            stat.S_ISDIR(below.st_mode)
            and below.st_mode == here.st_mode
            and (below.st_uid, below.st_gid) == (here.st_uid, here.st_gid)
        ):
            os.rmdir(dirpath)


def upper_entries(upper: Path) -> Iterator[Entry]:
    """Layer entries for an overlay upper dir, parents before children, sorted."""
    yield from _walk_upper(upper, "")


def _walk_upper(directory: Path, prefix: str) -> Iterator[Entry]:
    with os.scandir(directory) as it:
        names = sorted(e.name for e in it)
    for name in names:
        path = directory / name
        archive = f"{prefix}{name}"
        st = os.lstat(path)
        if is_whiteout(st):
            yield Entry(archive, None, "whiteout")
            continue
        yield Entry(archive, path)
        if stat.S_ISDIR(st.st_mode):
            if is_opaque(path):
                yield Entry(archive, None, "opaque")
            yield from _walk_upper(path, archive + "/")


def is_empty_dir(path: Path) -> bool:
    with os.scandir(path) as it:
        return next(it, None) is None


def _remove(path: Path) -> None:
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()


def merge_upper(upper: Path, rootfs: Path) -> None:
    """Applies an upper dir (or a staged COPY tree) onto `rootfs` by renaming into it.

    Only real directories of the rootfs are descended into (lstat), so a symlink in the
    rootfs never redirects a write outside it. `upper` is consumed.
    """
    with os.scandir(upper) as it:
        names = sorted(e.name for e in it)
    for name in names:
        src = upper / name
        dst = rootfs / name
        st = os.lstat(src)
        try:
            dst_st: os.stat_result | None = os.lstat(dst)
        except FileNotFoundError:
            dst_st = None
        if is_whiteout(st):
            if dst_st is not None:
                _remove(dst)
            continue
        if stat.S_ISDIR(st.st_mode) and not is_opaque(src):
            if dst_st is not None and stat.S_ISDIR(dst_st.st_mode):
                merge_upper(src, dst)
                _copy_metadata(st, dst)
                continue
        elif stat.S_ISDIR(st.st_mode):
            for xattr in OPAQUE_XATTRS:
                with contextlib.suppress(OSError):
                    os.removexattr(src, xattr, follow_symlinks=False)
        if dst_st is not None:
            _remove(dst)
        os.rename(src, dst)


def _copy_metadata(st: os.stat_result, dst: Path) -> None:
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


# ---------------------------------------------------------------- tree-diff fallback


@dataclass(frozen=True)
class FileState:
    """The lstat fields that show a path changed between two snapshots."""

    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int


class TreeState:
    """lstat of every path under a root, to diff against after a step."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, FileState] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = os.path.relpath(dirpath, root)
            for name in dirnames + filenames:
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                st = os.lstat(os.path.join(dirpath, name))
                self.files[rel] = FileState(
                    st.st_mode,
                    st.st_uid,
                    st.st_gid,
                    st.st_size,
                    st.st_mtime_ns,
                    st.st_ctime_ns,
                    st.st_ino,
                )


def tree_diff_entries(before: TreeState, after: TreeState) -> list[Entry]:
    """Entries for everything added, changed or removed between two states, sorted."""
    entries: list[tuple[str, Entry]] = []
    for rel, state in after.files.items():
        old = before.files.get(rel)
        if old is None or old != state:
            if (
                old is not None
                and stat.S_ISDIR(state.mode)
                and stat.S_ISDIR(old.mode)
                and (old.mode, old.uid, old.gid) == (state.mode, state.uid, state.gid)
            ):
                continue  # only the listing changed: the children carry the change
            entries.append((rel, Entry(rel, after.root / rel)))
    removed = sorted(set(before.files) - set(after.files))
    for rel in removed:
        parent = rel.rpartition("/")[0]
        if parent and parent in before.files and parent not in after.files:
            continue  # the whole parent went away: one whiteout for it is enough
        entries.append((rel, Entry(rel, None, "whiteout")))
    entries.sort(key=lambda pair: pair[0].split("/"))
    return [entry for _, entry in entries]
