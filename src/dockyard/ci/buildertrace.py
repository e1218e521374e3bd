"""Trace spans from the progress lines of Dockyard's builder (`dockyard executor`, which is what
`/kaniko/executor` runs): base pull, each Dockerfile instruction, each push, so `dockyard trace`
shows the tutorial's C.5 phases.

Lines are timestamped as they arrive from the step. A recognised line ends the open span; `FROM`
and instruction lines open the next; the first layer upload opens the push phase; each
`pushed REF (digest)` line closes one push span. A multi-platform build's `[os/arch] `
prefix is taken off and kept as the span's `platform`. Output of anything else is ignored, so a step
that prints nothing like this produces no spans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FROM = re.compile(r"^\[stage [^\]]*\] FROM (\S+)")
_INSTRUCTION = re.compile(
    r"^(?:\[[^\]]+\] )?"  # a multi-stage build's "[stage] " prefix
    r"  (?:\[\d+/\d+\] )?(RUN|COPY|ADD|CMD|ENTRYPOINT|ENV|ARG|LABEL|WORKDIR|USER|EXPOSE|VOLUME|SHELL|"
    r"HEALTHCHECK|ONBUILD|STOPSIGNAL|MAINTAINER)\b(.*)$"
)
_LAYER = re.compile(r"^  layer sha256:[0-9a-f]+ (uploaded|mounted|exists)")
_PUSHED = re.compile(r"^  pushed (?:index )?(\S+) \((sha256:[0-9a-f]+)\)")
# a multi-platform build prefixes each platform's lines with it: `[linux/arm64] ...`
_PLATFORM = re.compile(r"^\[([a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?)\] ")
_BUILT = re.compile(r"^built (sha256:[0-9a-f]+) in ")
# The builder's progress lines are short; of a longer line only this much is kept (a step printing
# gigabytes without a newline must not grow the server's memory, nor copy it again per chunk).
MAX_LINE = 8192


@dataclass
class TracedSpan:
    kind: str
    name: str
    start: float
    end: float
    detail: dict[str, str]


class BuilderOutputTracer:
    def __init__(self) -> None:
        self.spans: list[TracedSpan] = []
        self._partial = b""
        self._open: tuple[str, str, float, dict[str, str]] | None = None
        self._push_start: float | None = None

    def feed(self, chunk: bytes, now: float) -> None:
        data = self._partial + chunk
        *lines, partial = data.split(b"\n")
        self._partial = partial[:MAX_LINE]
        for raw in lines:
            self._line(raw.decode(errors="replace").rstrip("\r"), now)

    def finish(self, now: float) -> list[TracedSpan]:
        if self._partial:
            self._line(self._partial.decode(errors="replace"), now)
            self._partial = b""
        self._close(now)
        return self.spans

    def _close(self, now: float) -> None:
        if self._open is not None:
            kind, name, start, detail = self._open
            self.spans.append(TracedSpan(kind, name, start, now, detail))
            self._open = None

    def _line(self, line: str, now: float) -> None:
        where: dict[str, str] = {}
        if m := _PLATFORM.match(line):
            where, line = {"platform": m.group(1)}, line[m.end():]
        if m := _FROM.match(line):
            self._close(now)
            self._push_start = None
            self._open = ("pull", m.group(1), now, where)
        elif m := _INSTRUCTION.match(line):
            self._close(now)
            text = (m.group(1) + m.group(2)).strip()
            cached = text.endswith("(cached)")
            name = text.removesuffix("(cached)").strip()
            detail = {**where, "cached": "yes"} if cached else where
            self._open = ("instruction", name[:60], now, detail)
        elif _LAYER.match(line):
            if self._push_start is None:
                self._close(now)
                self._push_start = now
        elif m := _PUSHED.match(line):
            self._close(now)
            start = self._push_start if self._push_start is not None else now
            self.spans.append(TracedSpan("push", m.group(1), start, now, {"digest": m.group(2)[:19]}))
            self._push_start = now
        elif _BUILT.match(line):
            self._close(now)
