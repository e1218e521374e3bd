"""Waiting for an in-process CIService's build (tests that drive the real scheduler and runner
without an HTTP server)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any


async def finished(ci: Any, job: str, number: int, ci_dir: Path, timeout: float) -> tuple[Any, str]:
    """The build once it is DONE, and its console log; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while ci.store.build(job, number).state != "DONE":
        assert time.monotonic() < deadline, "build did not finish"
        await asyncio.sleep(0.05)
    done = ci.store.build(job, number)
    return done, (ci_dir / job / str(done.number) / "log").read_text()
