"""Things the tests build once per machine (Go servers, Kubernetes), cached outside the repository.

`$DOCKYARD_TEST_CACHE`, else ~/.cache/dockyard-test; every entry is keyed by its version in its
path, made under a file lock and moved into place with one rename, so concurrent test sessions
build it once and never see half of it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path


class BuildFailed(RuntimeError):
    """A cached build did not produce its output; the message names the command and its error."""


def cache_dir() -> Path:
    return Path(os.environ.get("DOCKYARD_TEST_CACHE") or Path.home() / ".cache" / "dockyard-test")


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """`target` (a file or a directory), made by `build(staging)` the first time.

    `build` writes `staging / target.name`; it is renamed into place under the lock of
    `target.parent`, so a reader sees the whole output or none of it."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            staging = target.parent / f".build-{target.name}-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            try:
                build(staging)
                if not (staging / target.name).exists():
                    raise BuildFailed(f"building {target} left no {target.name} in {staging}")
                os.replace(staging / target.name, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return target
