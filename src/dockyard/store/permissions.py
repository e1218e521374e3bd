"""The data directory is private: 0700 directories and 0600 files, for everything Dockyard
writes there (the database and its -wal/-shm, git repositories, blobs, build logs, artifacts,
traces, caches, secrets). `dockyard up` sets a 0o077 umask so new files are born private;
`check_data_dir` makes the top directory 0700 and names every path that still lets group or
others in (left by an older version, a restore or a hand-made copy).

A build's workspace (`ci/<job>/<n>/workspace`) is the build's own content: its files keep the
modes a Jenkins agent gives them (umask 022), because `COPY` puts those modes into images.
It sits inside private directories, so nobody else can reach it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

PRIVATE_UMASK = 0o077
PRIVATE_DIR_MODE = 0o700
OPEN_BITS = 0o077  # any permission for group or others


def is_build_workspace(relative: Path) -> bool:
    """`ci/<job...>/<number>/workspace`: the build's content, not Dockyard's own files."""
    parts = relative.parts
    return (len(parts) >= 4 and parts[0] == "ci" and parts[-1] == "workspace"
            and parts[-2].isdigit())


def loose_paths(root: Path) -> Iterator[Path]:
    """Every file or directory under `root` (not following symlinks, whose own mode means
    nothing) that grants group or others any permission, build workspaces excepted."""
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue
            path = Path(entry.path)
            is_dir = stat.S_ISDIR(st.st_mode)
            if is_dir and is_build_workspace(path.relative_to(root)):
                continue
            if st.st_mode & OPEN_BITS:
                yield path
            if is_dir:
                stack.append(path)


def ensure_private_dir(path: Path) -> bool:
    """Create `path` 0700, or make it 0700; True when an existing mode had to be fixed."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & OPEN_BITS:
        path.chmod(PRIVATE_DIR_MODE)
        return True
    return False


def check_data_dir(root: Path, limit: int = 50) -> list[str]:
    """Fix the top directory's mode and return warnings naming each loose path (at most
    `limit` by name, then a count), each with the fix."""
    warnings = []
    if ensure_private_dir(root):
        warnings.append(f"data directory {root} was open to group/others; now 0700")
    loose = 0
    for path in loose_paths(root):
        loose += 1
        if loose <= limit:
            mode = stat.S_IMODE(path.lstat().st_mode)
            warnings.append(f"{path} is {mode:04o}: group/others may read it"
                            f" (fix: chmod go-rwx {path})")
    if loose > limit:
        warnings.append(f"... and {loose - limit} more paths under {root} open to group/others"
                        f" (fix: chmod -R go-rwx {root})")
    return warnings
