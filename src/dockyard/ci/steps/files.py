"""Workspace paths for the file steps: a relative path resolved against the step's directory,
refused when it (or a symlink on the way) leads out of the build's workspace, and read or written
without following a final symlink (a step may have swapped one in since the check)."""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.ci.errors import Pos
from dockyard.ci.steps.interface import Ctx, StepFailed, StepHost

MAX_FILE = 1 << 20  # bytes a file step reads into the pipeline (the scripts' string bound)


def workspace_path(ctx: Ctx, host: StepHost, rel: str, step: str, pos: Pos | None) -> Path:
    where = f"{pos}: " if pos else ""
    if not rel or "\0" in rel:
        raise StepFailed(f"{where}{step}: a file name is needed")
    root = host.paths.workspace.resolve()
    target = (ctx.cwd / rel).resolve()
    if not target.is_relative_to(root):
        raise StepFailed(
            f"{where}{step}('{rel}') leaves the workspace: only files in the workspace are reachable"
        )
    return target


def read_bytes(path: Path, step: str, rel: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise StepFailed(f"{step}: {rel} does not exist in the workspace") from None
    except OSError as e:
        raise StepFailed(f"{step}: cannot read {rel}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        raise StepFailed(f"{step}: {rel} is over {MAX_FILE} bytes; pipelines read at most 1 MiB from a file")
    return data


def write_bytes(path: Path, data: bytes, step: str, rel: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        raise StepFailed(f"{step}: cannot write {rel}: {e.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
