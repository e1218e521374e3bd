"""A bound on each request's head (request line and headers), read before any handler runs.

uvicorn's h11 parser refuses a head over `h11_max_incomplete_event_size`, but its httptools
parser (the one it picks, httptools being installed) gathers header bytes without a limit: one
anonymous request with a 64 MiB header made the server hold 150 MB more. Like Go's net/http
(1 MiB by default), this protocol answers 431 and closes the connection once a head is larger
than HEAD_LIMIT. Bodies are not counted: their limits are BoundedBodyMiddleware's.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_LIMIT = 1 << 20
_LINGER = 0.5  # seconds a refused connection still reads (and drops) what the client sends
_REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
)


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head larger than HEAD_LIMIT bytes."""

    _in_head = True
    _head_bytes = 0
    _refused = False

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > HEAD_LIMIT:  # stays so: what else arrives is dropped
                if not self._refused:
                    self._refuse()
                return
        super().data_received(data)

    def _refuse(self) -> None:
        """Answer 431, stop sending, and close a moment later: closing at once, with the rest of
        the head still arriving, resets the connection and the client never reads the answer
        (Go's net/http waits the same way)."""
        self._refused = True
        transport: asyncio.Transport = self.transport
        message = f"request line and headers are larger than {HEAD_LIMIT} bytes\n".encode()
        transport.write(_REFUSAL % (len(message), message))
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(_LINGER, transport.close)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0
