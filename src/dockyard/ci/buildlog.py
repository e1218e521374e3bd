"""Per-build files: the console log (masked, appended live, read while it grows) and the trace.

Layout: DATA/ci/<job>/<n>/{log, trace.json, workspace/}.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.credentials import SecretMasker as CredentialsMasker
from dockyard.store import atomic_write_text


@dataclass
class BuildPaths:
    """Where one build's files live: DATA/ci/<job>/<n>/."""

    root: Path

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def trace(self) -> Path:
        return self.root / "trace.json"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    def archived_file(self, relative: str) -> Path | None:
        """The archived file at `relative` (a URL's path), None when there is none inside the
        archive: `..` and links out, a NUL byte or a name too long for the file system included
        (a 404 for the APIs and pages that serve artifacts, never a 500)."""
        try:
            root = self.archive.resolve()
            target = (root / relative).resolve()
            return target if target.is_relative_to(root) and target.is_file() else None
        except (OSError, ValueError):
            return None


class SecretMasker:
    """The build's masker: `dockyard.credentials`' masker (which also hides base64, URL- and
    JSON-encoded forms), grown as steps bind more secrets. A secret split across writes is caught:
    the tail that could still start one is held back until the next write (or `flush`)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._masker = CredentialsMasker([s for s in secrets if s])
        self.carry = b""

    def add(self, secrets: Iterable[str | None]) -> None:
        new = [s for s in secrets if s and s not in self._masker.secrets]
        if new:
            self._masker = self._masker.with_secrets(new)

    def feed(self, data: bytes) -> bytes:
        out, self.carry = self._masker.process(self.carry + data, final=False)
        return out

    def flush(self) -> bytes:
        out, self.carry = self._masker.process(self.carry, final=True)
        return out

    def mask_text(self, value: str) -> str:
        return self._masker.mask_text(value)


class ConsoleLog:
    """Append-only console log. Readers use `read_from(offset)` while it grows (progressiveText)."""

    def __init__(self, path: Path, masker: SecretMasker) -> None:
        self.path = path
        self.masker = masker
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab")  # noqa: SIM115 - closed by close()
        self.closed = False

    def write(self, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        with self._lock:
            if self.closed:
                return
            self._file.write(self.masker.feed(raw))
            self._file.flush()

    def line(self, text: str) -> None:
        """A line of Dockyard's own narration; flushes held-back bytes first so order is kept."""
        with self._lock:
            if self.closed:
                return
            self._file.write(self.masker.flush())
            if self._file.tell() > 0 and not self._ends_with_newline():
                self._file.write(b"\n")
            self._file.write(self.masker.feed(text.encode() + b"\n") + self.masker.flush())
            self._file.flush()

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, 2)
            return f.read(1) == b"\n"

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self._file.write(self.masker.flush())
                self._file.close()
                self.closed = True


def read_from(path: Path, start: int, limit: int = 4 << 20) -> tuple[bytes, int]:
    """(bytes from `start`, new offset); empty when nothing new or no log yet."""
    try:
        with open(path, "rb") as f:
            f.seek(max(start, 0))
            data = f.read(limit)
    except FileNotFoundError:
        return b"", start
    return data, max(start, 0) + len(data)


@dataclass
class Span:
    kind: str
    name: str
    start: float
    end: float | None = None
    status: str = "running"
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "start": self.start,
            "end": self.end,
            "duration_ms": int((self.end - self.start) * 1000) if self.end is not None else None,
            "status": self.status,
            **({"detail": self.detail} if self.detail else {}),
        }


class Trace:
    """The build's timeline (queued, agent ready, checkout, stages, steps, pushes), saved as JSON.

    Spans that a step's own output or tools report (`add`, `merge_events`) are bounded: at most
    MAX_TOOL_SPANS per build, events read MAX_EVENT_BYTES at a time (a step is not trusted to
    keep its trace small)."""

    MAX_TOOL_SPANS = 10_000
    MAX_EVENT_BYTES = 4 << 20

    def __init__(self, path: Path, queued_at: float, mask: Callable[[str], str] | None = None) -> None:
        self.path = path
        self.mask = mask or (lambda text: text)
        self.spans: list[Span] = []
        self._lock = threading.Lock()
        self.queued_at = queued_at
        self._events_offset = 0
        self._tool_spans = 0

    def _room(self, spans: list[Span]) -> list[Span]:
        """As many of `spans` as the tool-span budget still allows (counted); under the lock."""
        kept = spans[: max(0, self.MAX_TOOL_SPANS - self._tool_spans)]
        self._tool_spans += len(kept)
        return kept

    def mark(self, kind: str, name: str, start: float, end: float, status: str = "ok", **detail: Any) -> Span:
        span = Span(kind, name, start, end, status, detail)
        with self._lock:
            self.spans.append(span)
        self.save()
        return span

    def add(self, spans: list[Span]) -> None:
        """Finished spans, saved once (a step's builder phases: one fsync on the event loop,
        not one per span)."""
        if spans:
            with self._lock:
                self.spans.extend(self._room(spans))
            self.save()

    @contextmanager
    def span(self, kind: str, name: str, **detail: Any) -> Iterator[Span]:
        s = Span(kind, name, time.time(), detail=detail)
        with self._lock:
            self.spans.append(s)
        try:
            yield s
        except BaseException:
            s.status = "failed" if s.status == "running" else s.status
            raise
        finally:
            s.end = time.time()
            if s.status == "running":
                s.status = "ok"
            self.save()

    def merge_events(self, path: Path) -> int:
        """Add the spans a step's tools appended to `path` (JSON lines) since the last merge."""
        try:
            with open(path, "rb") as f:
                f.seek(self._events_offset)
                data = f.read(self.MAX_EVENT_BYTES)
        except FileNotFoundError:
            return 0
        complete = data[: data.rfind(b"\n") + 1]
        # a line longer than a whole read is no span: skipped, not read again at every merge
        self._events_offset += len(complete) or (len(data) if len(data) == self.MAX_EVENT_BYTES else 0)
        spans = []
        for raw in complete.splitlines():
            try:
                ev = json.loads(raw)
                start = float(ev.pop("start"))
                end = float(ev.pop("end", start))
                kind, name = str(ev.pop("kind")), str(ev.pop("name"))
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                continue  # a tool's malformed (or absurdly nested) line must not break the build
            spans.append(Span(kind, name, start, end, str(ev.pop("status", "ok")), ev))
        with self._lock:
            spans = self._room(spans)
            self.spans.extend(spans)
        if spans:
            self.save()
        return len(spans)

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            spans = sorted(self.spans, key=lambda s: s.start)
            return {"queued_at": self.queued_at, "spans": [s.to_json() for s in spans]}

    def save(self, durable: bool = False) -> None:
        """Written masked: a trace is a build record, and secrets never reach build records.

        Saves while the build runs are progress for readers (atomic, not fsynced: one fsync per
        span cost the server ~30 ms a build); the build's end saves `durable` (the scheduler),
        and a crashed build's result and reason live in the build store, not here."""
        atomic_write_text(self.path, self.mask(json.dumps(self.to_json(), indent=1)), durable=durable)


def load_trace(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return {"queued_at": None, "spans": []}


def format_trace(trace: dict[str, Any]) -> str:
    """The tutorial's C.5 table: | phase | time | note |, times relative to queueing."""
    base = trace.get("queued_at") or (trace["spans"][0]["start"] if trace.get("spans") else 0)
    rows = ["| phase | time | note |", "|---|---|---|"]
    for s in trace.get("spans", []):
        start = s["start"] - base
        end = (s["end"] - base) if s.get("end") is not None else None
        when = f"{start:.2f}-{end:.2f}s" if end is not None else f"{start:.2f}s-"
        note = s.get("status", "")
        detail = s.get("detail") or {}
        if detail:
            note += " " + " ".join(f"{k}={v}" for k, v in detail.items())
        label = s["name"] if s["kind"] in ("stage", "phase") else f"{s['kind']}: {s['name']}"
        rows.append(f"| {label} | {when} | {note.strip()} |")
    return "\n".join(rows)
