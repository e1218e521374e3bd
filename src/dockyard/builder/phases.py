"""Where a build's time goes, per phase (start-up, context hashing, cache lookups, base
resolution, unpack, RUN, layer write, push...), for `bench/builder.py --profile`.

Off unless the executor runs with DOCKYARD_PROFILE=FILE: then `phase(name)` adds the
wall time of its block to `name` and the totals are written to FILE as JSON when the
build ends. Times are exclusive (a phase inside another pauses the outer one) and only the
main thread counts, so the phases add up to the build's critical path. Off, `phase` returns
one shared no-op context manager: no clock reads, no allocation.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from types import TracebackType

ENV = "DOCKYARD_PROFILE"


class _Profile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = time.time()  # wall clock: the bench compares it with its own
        self.totals: dict[str, float] = {}
        self.marks: dict[str, float] = {}  # name -> seconds after `started`, first time only
        self.stack: list[list[object]] = []  # [name, time it (re)started]
        self.main = threading.main_thread()


_profile: _Profile | None = None


class _Phase:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        profile = _profile
        if profile is None or threading.current_thread() is not profile.main:
            return
        now = time.perf_counter()
        if profile.stack:
            outer = profile.stack[-1]
            _add(profile, str(outer[0]), now - float(outer[1]))  # type: ignore[arg-type]
        profile.stack.append([self.name, now])

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        profile = _profile
        if profile is None or threading.current_thread() is not profile.main or \
                not profile.stack:
            return
        now = time.perf_counter()
        name, since = profile.stack.pop()
        _add(profile, str(name), now - float(since))  # type: ignore[arg-type]
        if profile.stack:
            profile.stack[-1][1] = now


def _add(profile: _Profile, name: str, seconds: float) -> None:
    profile.totals[name] = profile.totals.get(name, 0.0) + seconds


_OFF = contextlib.nullcontext()


def phase(name: str) -> contextlib.AbstractContextManager[None]:
    """Times the block as `name` when profiling is on."""
    return _OFF if _profile is None else _Phase(name)


def mark(name: str) -> None:
    """Notes when `name` first happened (the first step: the start-up a user waits for)."""
    profile = _profile
    if profile is not None and name not in profile.marks:
        profile.marks[name] = time.time() - profile.started


def start() -> None:
    """Turns profiling on when DOCKYARD_PROFILE names a file (the executor's first act)."""
    global _profile
    target = os.environ.get(ENV)
    if target and _profile is None:
        _profile = _Profile(Path(target))


def finish() -> None:
    """Writes the totals (seconds per phase, and the build's wall-clock start and end)."""
    global _profile
    profile, _profile = _profile, None
    if profile is None:
        return
    record = {"started": profile.started, "ended": time.time(), "phases": profile.totals,
              "marks": profile.marks}
    with contextlib.suppress(OSError):
        profile.path.write_text(json.dumps(record))
