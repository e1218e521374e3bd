"""`options { timestamps() }` and `timestamps { ... }`: every console line starts with the time it
was written, as Jenkins' Timestamper shows it in consoleText (`[2026-01-02T03:04:05.678Z] `)."""

from __future__ import annotations

import time
from typing import Any

from dockyard.ci.steps.interface import Ctx, Step, StepHost


def stamp() -> bytes:
    now = time.time()
    return (time.strftime("[%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z] ").encode()


class TimestampedLog:
    """A console log whose lines get the time they started at; everything else is the inner log."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.at_line_start = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def write(self, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        out = bytearray()
        for piece in raw.splitlines(keepends=True):
            if self.at_line_start:
                out += stamp()
            out += piece
            self.at_line_start = piece.endswith(b"\n")
        self.inner.write(bytes(out))

    def line(self, text: str) -> None:
        prefix = stamp().decode()
        self.at_line_start = True
        self.inner.line("\n".join(prefix + part for part in text.split("\n")))


def timestamped(log: Any) -> Any:
    return log if isinstance(log, TimestampedLog) else TimestampedLog(log)


class TimestampsStep(Step):
    """`timestamps { ... }`: the build's console is timestamped while the block runs (lines
    other parallel branches write meanwhile get the time too: they share the console)."""

    name = "timestamps"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        original = host.log
        if isinstance(original, TimestampedLog):
            await host.run_steps(self.body, ctx)
            return
        host.log = timestamped(original)
        try:
            await host.run_steps(self.body, ctx)
        finally:
            host.log = original
