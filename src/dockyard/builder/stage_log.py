"""Build output that stays readable while stages run at the same time.

In a multi-stage build every progress line and every line a RUN prints starts with its stage
(`[build] ...`), and lines are passed on whole: a RUN's output is cut into lines per stage
before it is written, so two compilers printing at once never share a line. Which stage a
line belongs to is the context variable the scheduler sets in the stage's thread; lines from
elsewhere (the build's own, the push) go out as they are. A single-stage build prints exactly
what it printed before (no prefix, RUN output passed through as it comes).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar

_STAGE: ContextVar[str] = ContextVar("dockyard_build_stage", default="")
MAX_PARTIAL = 64 * 1024  # a "line" longer than this (progress bars with \r) goes out anyway


class StageLog:
    def __init__(self, progress: Callable[[str], None] | None,
                 output: Callable[[bytes], None] | None) -> None:
        self._progress = progress
        self._output = output
        self._lock = threading.Lock()
        self._partial: dict[str, bytes] = {}
        self.prefixed = False  # set by the engine for multi-stage builds

    @contextlib.contextmanager
    def stage(self, label: str) -> Iterator[None]:
        """Lines logged inside are the stage `label`'s (in this thread and what it copies)."""
        token = _STAGE.set(label)
        try:
            yield
        finally:
            self.flush()
            _STAGE.reset(token)

    def _prefix(self) -> str:
        label = _STAGE.get()
        return f"[{label}] " if self.prefixed and label else ""

    def progress(self, message: str) -> None:
        if self._progress is None:
            return
        prefix = self._prefix()
        with self._lock:
            if not prefix:
                self._progress(message)
                return
            for line in message.split("\n"):
                self._progress(prefix + line)

    def output(self, chunk: bytes) -> None:
        """A RUN's output: whole lines with the stage's prefix (as is when not prefixed)."""
        if self._output is None:
            return
        label = _STAGE.get()
        if not (self.prefixed and label):
            with self._lock:
                self._output(chunk)
            return
        with self._lock:
            data = self._partial.pop(label, b"") + chunk
            lines = data.split(b"\n")
            rest = lines.pop()
            if len(rest) > MAX_PARTIAL:
                lines.append(rest)
                rest = b""
            if rest:
                self._partial[label] = rest
            if lines:
                head = f"[{label}] ".encode()
                self._output(b"".join(head + line + b"\n" for line in lines))

    def flush(self) -> None:
        """Ends the current stage's unfinished line (a RUN whose output has no final newline)."""
        label = _STAGE.get()
        with self._lock:
            rest = self._partial.pop(label, b"")
            if rest and self._output is not None:
                self._output(f"[{label}] ".encode() + rest + b"\n")
