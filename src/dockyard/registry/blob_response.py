"""Serve a stored blob, whole or one byte range, reading ahead while the previous chunk is sent.

Starlette's FileResponse reads and sends strictly in turn; overlapping the two is worth about
15% of pull throughput on loopback. Multi-range requests get the whole blob (RFC 9110 allows it).
A backend with local files is read with pread (the fast path); any other through its reader.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dockyard.registry.storage import BlobReader, BlobStorage

CHUNK = 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """(start, end_exclusive) for one satisfiable range, None for 'send it all', 'invalid' for 416."""
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if not match:
        return None  # multiple or unknown ranges: the full body is a valid answer
    first, last = match.groups()
    if not first and not last:
        return "invalid"
    if not first:
        length = int(last)
        if length == 0:
            return "invalid"
        return max(0, size - length), size
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        return "invalid"
    return start, end


class BlobResponse(Response):
    def __init__(
        self,
        store: BlobStorage,
        digest: str,
        size: int,
        request_headers: Mapping[str, str],
        headers: dict[str, str],
    ) -> None:
        super().__init__(status_code=200, headers=headers, media_type="application/octet-stream")
        self.store = store
        self.digest = digest
        wanted = parse_range(request_headers.get("range"), size)
        if wanted == "invalid":
            self.status_code = 416
            self.start, self.end = 0, 0
            self.headers["Content-Range"] = f"bytes */{size}"
        elif isinstance(wanted, tuple):
            self.status_code = 206
            self.start, self.end = wanted
            self.headers["Content-Range"] = f"bytes {self.start}-{self.end - 1}/{size}"
        else:
            self.start, self.end = 0, size
        self.headers["Content-Length"] = str(self.end - self.start)
        self.headers["Accept-Ranges"] = "bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        remaining = self.end - self.start
        if remaining <= 0 or scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        read, close = await asyncio.to_thread(self._open)
        try:
            offset = self.start
            upcoming = asyncio.ensure_future(asyncio.to_thread(read, min(CHUNK, remaining), offset))
            while True:
                chunk = await upcoming
                if not chunk:
                    raise OSError(f"blob {self.digest} is shorter than recorded")
                offset += len(chunk)
                remaining -= len(chunk)
                if remaining > 0:
                    upcoming = asyncio.ensure_future(
                        asyncio.to_thread(read, min(CHUNK, remaining), offset)
                    )
                await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
                if remaining <= 0:
                    break
        finally:
            if remaining > 0:
                await asyncio.wait([upcoming])
            close()

    def _open(self) -> tuple[Callable[[int, int], bytes], Callable[[], None]]:
        """(read(size, offset), close) over the blob from `self.start` on."""
        path = self.store.local_path(self.digest)
        if path is not None:
            fd = os.open(path, os.O_RDONLY)
            return (lambda size, offset: os.pread(fd, size, offset)), (lambda: os.close(fd))
        reader: BlobReader = self.store.open_blob(self.digest, self.start)
        return (lambda size, _offset: reader.read(size)), reader.close
