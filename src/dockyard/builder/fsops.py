"""Filesystem helpers for COPY/ADD/WORKDIR: build a staging tree that mirrors where the
files land in the rootfs, so the staging tree is both the layer and what gets merged."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dockyard.sandbox import inside


@dataclass(frozen=True)
class Ownership:
    """How copied entries are owned and moded; None keeps the source's value."""

    uid: int | None = 0
    gid: int | None = 0
    mode: int | None = None


def resolve(rootfs: Path, container_path: str) -> str:
    """`container_path` resolved inside the rootfs (symlinks followed as the container
    would), returned as a relative slash path ('' is the root)."""
    host = inside(str(rootfs), container_path)
    rel = os.path.relpath(host, rootfs)
    return "" if rel == "." else rel


def scaffold(rootfs: Path, staging: Path, rel_dir: str, new_owner: Ownership) -> Path:
    """Creates `rel_dir` in the staging tree; parts that exist in the rootfs copy its
    metadata (so merging changes nothing about them), new parts get `new_owner`."""
    current = staging
    below = rootfs
    for part in [p for p in rel_dir.split("/") if p]:
        current = current / part
        below = below / part
        if current.exists():
            continue
        current.mkdir()
        try:
            st = os.lstat(below)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            os.chown(current, st.st_uid, st.st_gid)
            os.chmod(current, stat.S_IMODE(st.st_mode))
            os.utime(current, ns=(st.st_atime_ns, st.st_mtime_ns))
        else:
            os.chown(current, new_owner.uid or 0, new_owner.gid or 0)
            os.chmod(current, 0o755)
    return current


def is_dir_in_root(rootfs: Path, rel: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(rootfs / rel).st_mode) if rel else True
    except FileNotFoundError:
        return False


def _apply_owner(path: Path, st: os.stat_result, owner: Ownership, is_link: bool) -> None:
    uid = st.st_uid if owner.uid is None else owner.uid
    gid = st.st_gid if owner.gid is None else owner.gid
    os.chown(path, uid, gid, follow_symlinks=False)
    if not is_link:
        mode = stat.S_IMODE(st.st_mode) if owner.mode is None else owner.mode
        os.chmod(path, mode)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def copy_entry(source: Path, target: Path, owner: Ownership, follow: bool = False) -> None:
    """Copies one file, symlink or special file (not a directory's contents)."""
    st = os.stat(source) if follow else os.lstat(source)
    if target.is_dir() and not target.is_symlink() and not stat.S_ISDIR(st.st_mode):
        shutil.rmtree(target)
    elif os.path.lexists(target) and not stat.S_ISDIR(st.st_mode):
        target.unlink()
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(source), target)
        _apply_owner(target, st, owner, is_link=True)
        return
    if stat.S_ISDIR(st.st_mode):
        if not target.exists():
            target.mkdir()
    elif stat.S_ISREG(st.st_mode):
        shutil.copyfile(source, target, follow_symlinks=True)
    elif stat.S_ISFIFO(st.st_mode):
        os.mkfifo(target)
    else:
        return  # sockets and device nodes are not copied from a context
    _apply_owner(target, st, owner, is_link=False)


def copy_tree(
    source: Path,
    target: Path,
    owner: Ownership,
    skip: Callable[[str], bool] | None = None,
    rel_prefix: str = "",
) -> None:
    """Copies the *contents* of directory `source` into `target` (created if missing).

    `skip(rel)` drops entries (a .dockerignore); `rel_prefix` is `source` relative to
    what `skip` understands.
    """
    target.mkdir(exist_ok=True)
    directories: list[tuple[Path, os.stat_result]] = []
    for dirpath, dirnames, filenames in os.walk(source):
        rel_dir = os.path.relpath(dirpath, source)
        rel_dir = "" if rel_dir == "." else rel_dir
        keep_dirs = []
        for name in sorted(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            full_rel = f"{rel_prefix}/{rel}" if rel_prefix else rel
            path = Path(dirpath) / name
            if skip and skip(full_rel) and not _must_walk(skip, full_rel):
                continue
            if path.is_symlink():
                copy_entry(path, target / rel, owner)
                continue
            (target / rel).mkdir(exist_ok=True)
            directories.append((target / rel, os.lstat(path)))
            keep_dirs.append(name)
        dirnames[:] = keep_dirs
        for name in sorted(filenames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            full_rel = f"{rel_prefix}/{rel}" if rel_prefix else rel
            if skip and skip(full_rel):
                continue
            copy_entry(Path(dirpath) / name, target / rel, owner)
    for path, st in reversed(directories):  # after the children: keep their mtimes
        _apply_owner(path, st, owner, is_link=False)


def _must_walk(skip: Callable[[str], bool], rel: str) -> bool:
    owner = getattr(skip, "__self__", None)
    must_walk = getattr(owner, "must_walk", None)
    return bool(must_walk(rel)) if must_walk else False
