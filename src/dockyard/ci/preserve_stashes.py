"""What happens to a build's stashes when it completes, as Jenkins' StashManager does it: without
`options { preserveStashes() }` they are deleted with the build's end (they served its own
stages); with it, the stashes of the most recent completed build (`buildCount: N`: the N most
recent) stay for a restart from a stage, and older completed builds' are deleted."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

__all__ = ["apply_stash_policy"]


def apply_stash_policy(job_dir: Path, number: int, keep: int | None, completed: Iterable[int]) -> None:
    """After build `number` of the job whose builds live in `job_dir` completed; `completed` are the
    job's completed build numbers (running builds are never touched)."""
    if keep is None:
        shutil.rmtree(job_dir / str(number) / "stashes", ignore_errors=True)
        return
    newest = sorted(set(completed) | {number}, reverse=True)
    for n in newest[keep:]:
        shutil.rmtree(job_dir / str(n) / "stashes", ignore_errors=True)
