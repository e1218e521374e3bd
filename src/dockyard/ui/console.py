"""The live console: server-sent events from the same log file the CI API's consoleText and
progressiveText serve (written masked by the build's SecretMasker), so a page never shows what
the API would hide.

Each `log` event carries a chunk of text as a JSON string and `id:` = the byte offset after it
(the same number as Jenkins' `start`). A reconnecting EventSource sends `Last-Event-ID`, and the
stream resumes exactly there: no line twice, none lost. Chunks end at a line end (or a whole
UTF-8 character) so an offset never splits a character. An `end` event closes a finished build.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from dockyard.ci import read_from
from dockyard.http import small_int

CHUNK = 64 * 1024
POLL = 0.25
HEARTBEAT = 15.0
TAIL = 150 * 1024  # what a page shows at first (Jenkins' hudson.consoleTailKB default)


def whole_text(data: bytes, at_end: bool) -> bytes:
    """The longest prefix of `data` that ends at a newline, or, for a chunk without one, at a
    character boundary; everything when the log is complete."""
    if at_end:
        return data
    cut = data.rfind(b"\n") + 1
    if cut:
        return data[:cut]
    for back in range(4):  # an incomplete UTF-8 sequence is at most 3 bytes long
        try:
            data[: len(data) - back].decode("utf-8")
            return data[: len(data) - back]
        except UnicodeDecodeError:
            continue
    return data


def tail(path: Path, size: int = TAIL) -> tuple[str, int, int]:
    """(text, offset where it starts, offset where it ends) of the log's last `size` bytes,
    starting at a line start."""
    try:
        total = path.stat().st_size
    except FileNotFoundError:
        return "", 0, 0
    start = max(total - size, 0)
    data, end = read_from(path, start, size + 1)
    if start:
        cut = data.find(b"\n") + 1
        start += cut
        data = data[cut:]
    return data.decode("utf-8", errors="replace"), start, end


async def snapshot(path: Path) -> AsyncIterator[bytes]:
    """The log as it is now, in chunks (a growing file read to EOF would overrun a length)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    offset = 0
    while offset < size:
        data, _ = await asyncio.to_thread(read_from, path, offset, min(CHUNK * 16, size - offset))
        if not data:
            return
        offset += len(data)
        yield data


def parse_offset(value: str | None) -> int:
    """A `Last-Event-ID` / `start` byte offset; anything but ASCII digits (`²`) starts at 0."""
    return small_int(value or "") or 0


async def events(path: Path, start: int, finished: Callable[[], str | None],
                 disconnected: Callable[[], object]) -> AsyncIterator[str]:
    """The event stream from byte `start`; `finished()` gives the build's result once it is done."""
    offset = start
    last_sent = time.monotonic()
    yield "retry: 2000\n\n"
    while True:
        result = await asyncio.to_thread(finished)
        data, end = await asyncio.to_thread(read_from, path, offset, CHUNK)
        if data:
            data = whole_text(data, result is not None and len(data) < CHUNK)
            offset += len(data)
            text = data.decode("utf-8", errors="replace")
            yield f"id: {offset}\nevent: log\ndata: {json.dumps(text)}\n\n"
            last_sent = time.monotonic()
            continue
        if result is not None:
            yield f"id: {offset}\nevent: end\ndata: {json.dumps({'result': result})}\n\n"
            return
        if await _maybe(disconnected):
            return
        if time.monotonic() - last_sent > HEARTBEAT:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(POLL)


async def _maybe(check: Callable[[], object]) -> bool:
    value = check()
    if asyncio.iscoroutine(value):
        value = await value
    return bool(value)
