"""Atomic files: a temp file beside the target, fsync, chmod, rename; readers never see half.

The one copy of the pattern (docs/architecture.md: every write others can see is atomic). It lives at the
top of the package and imports nothing from Dockyard, so that `oci` and `builder` (which never
import the server side) use it as well as the server; `dockyard.store` re-exports it.

The mode defaults to 0o600: everything under Dockyard's data directory is private. Callers
that write files meant for others (a Kaniko `--digest-file`, a git hook that must be
executable) pass the mode they need; the mode is set with chmod, so the umask does not apply.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PRIVATE = 0o600


class AtomicFile:
    """A temp file in `path`'s directory that becomes `path` on `commit()`, or vanishes on
    `cancel()`. For writers that live longer than one `with` block (a layer being written)."""

    def __init__(self, path: Path | str, mode: int = PRIVATE, prefix: str | None = None,
                 durable: bool = True) -> None:
        self.path = Path(path)
        self.mode = mode
        self.durable = durable
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=prefix or f".{self.path.name}.tmp-")
        self.tmp = Path(tmp)
        self.file: BinaryIO = os.fdopen(fd, "wb")

    def commit(self) -> Path:
        """Flush, fsync (unless not `durable`: readers still never see half, only a crash may
        lose the update), set the mode and rename over the target; returns the target."""
        self.file.flush()
        if self.durable:
            os.fsync(self.file.fileno())
        self.file.close()
        os.chmod(self.tmp, self.mode)
        os.replace(self.tmp, self.path)
        return self.path

    def cancel(self) -> None:
        """Drop the temp file (idempotent; safe after a failed commit)."""
        with contextlib.suppress(OSError):
            self.file.close()
        self.tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_writer(path: Path | str, mode: int = PRIVATE, prefix: str | None = None,
                  durable: bool = True) -> Iterator[BinaryIO]:
    """`with atomic_writer(p) as f: f.write(...)`: `p` appears whole when the block ends
    normally; an exception inside (a digest mismatch, say) leaves `p` as it was."""
    atomic = AtomicFile(path, mode, prefix, durable)
    try:
        yield atomic.file
        atomic.commit()
    except BaseException:
        atomic.cancel()
        raise


def atomic_write_bytes(path: Path | str, data: bytes, mode: int = PRIVATE, durable: bool = True) -> None:
    """Write `data` to `path` so that `path` is either the old content or all of the new."""
    with atomic_writer(path, mode, durable=durable) as f:
        f.write(data)


def atomic_write_text(path: Path | str, text: str, mode: int = PRIVATE, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode(), mode, durable)


def publish_file(written: Path | str, path: Path | str, mode: int = PRIVATE) -> None:
    """Make an already written file (an upload finished in place) visible as `path`:
    fsync its bytes, set the mode, rename within the same filesystem."""
    fd = os.open(written, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(written, mode)
    os.replace(written, path)
