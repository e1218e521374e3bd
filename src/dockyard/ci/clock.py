"""Where the trigger scheduler reads the time: the system clock, or a test's.

Cron triggers fire on wall-clock minutes; tests must not wait for them. `FileClock` reads "now"
from a file that a test writes (an ISO 8601 time), selected by `DOCKYARD_CI_TEST_CLOCK` (a
setting documented as for tests only; the server logs a warning when it is set). Everything
else about the scheduler is the one that runs in production.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

__all__ = ["Clock", "FileClock", "SystemClock", "clock_for"]


class Clock(Protocol):
    def now(self) -> datetime | None:
        """The current time (aware), or None when it cannot be read yet."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime | None:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FileClock:
    """Test-only: the time is the ISO 8601 text of `path` (UTC when it names no zone)."""

    POLL = 0.1  # seconds between reads: a test moving the clock waits about this long

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime | None:
        try:
            value = datetime.fromisoformat(self.path.read_text().strip().replace("Z", "+00:00"))
        except (OSError, ValueError):
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(min(seconds, self.POLL))


def clock_for(test_clock: str) -> Clock:
    """The clock of a server: the system's, or `FileClock` when the test setting names a file."""
    return FileClock(Path(test_clock)) if test_clock else SystemClock()
