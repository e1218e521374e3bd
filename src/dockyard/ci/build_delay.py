"""`POST /job/NAME/build?delay=0sec` and `buildWithParameters?delay=30sec`: Jenkins' per-request
quiet period. It replaces the job's `options { quietPeriod(N) }` for that one queued build (0
starts it at once), as Jenkins' `ParameterizedJobMixIn.doBuild` does.

Jenkins' `TimeDuration.fromString` reads the value: a whole number of milliseconds, or of seconds
with `sec`/`secs` after it (`0sec`, `30 secs`); Jenkins then waits whole seconds (`1500` is 1 s).
Dockyard bounds it as it bounds quietPeriod (0 to a day) and answers 400 for anything else.

The delays live in the running process (`BuildDelays`), keyed by queued build: a build still
queued when Dockyard restarts waits out its job's quiet period instead."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from dockyard.ci.store import Build
from dockyard.ci.trigger_spec import MAX_QUIET_PERIOD

__all__ = ["BuildDelays", "DelayError", "parse_delay"]

_DELAY = re.compile(r"^(\d{1,15})\s*(secs?)?$")


class DelayError(ValueError):
    """A `delay` Jenkins would not read, or longer than a day (the API answers 400)."""


def parse_delay(raw: str | None) -> int | None:
    """Seconds a `delay` query value asks for; None without one."""
    if raw is None:
        return None
    m = _DELAY.match(raw.strip())
    if m is None:
        raise DelayError(
            f"delay {raw[:40]!r} is not a duration: use whole seconds such as delay=0sec or"
            " delay=30sec (a bare number is milliseconds, as in Jenkins)"
        )
    seconds = int(m.group(1)) if m.group(2) else int(m.group(1)) // 1000
    if seconds > MAX_QUIET_PERIOD:
        raise DelayError(f"delay is at most {MAX_QUIET_PERIOD} seconds (a day), not {seconds}")
    return seconds


class BuildDelays:
    """The queued builds that asked for their own delay. Recording happens with the build's
    insertion (under one lock), so the scheduler never sees such a build without its delay."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_build: dict[int, int] = {}

    def enqueue(self, insert: Callable[[], Build], delay: int | None) -> Build:
        """Runs `insert` (queueing the build) and records its delay before anyone may read it."""
        with self._lock:
            build = insert()
            if delay is not None:
                self._by_build[build.id] = delay
            return build

    def wait_of(self, build: Build, quiet_period: Callable[[int], float]) -> float:
        """Seconds `build` waits in the queue: its own delay, else its job's quiet period."""
        with self._lock:
            delay = self._by_build.get(build.id)
        return quiet_period(build.job_id) if delay is None else float(delay)

    def forget(self, build_id: int) -> None:
        """The build left the queue (started or cancelled)."""
        with self._lock:
            self._by_build.pop(build_id, None)
