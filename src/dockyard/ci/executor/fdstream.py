"""An asyncio StreamReader over a raw descriptor that this module owns and closes exactly once.

Why not `loop.connect_read_pipe(file)` or `open_unix_connection(sock=)`: under uvloop (the
server's loop) the transport closes the descriptor while the Python file or socket object it
was given closes it again later, at garbage collection. That second close lands on whatever
the number has become meanwhile - in a busy server another thread's freshly opened file
(a build crashed with EBADF in `os.fdopen` of a file it had just opened). Here the descriptor
belongs to one object: read with `add_reader` + `os.read`, closed once at EOF, error or close().
"""

from __future__ import annotations

import asyncio
import os

CHUNK = 65536


class FdStream:
    """Feeds `reader` from `fd` (non-blocking) with the back-pressure a transport gives:
    StreamReader pauses it when its buffer fills and resumes it as it drains."""

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        self.fd = fd
        self.loop = loop
        self.reader = asyncio.StreamReader(loop=loop)
        self.closed = False
        self._reading = False
        os.set_blocking(fd, False)
        self.reader.set_transport(self)  # type: ignore[arg-type]  # pause/resume_reading only
        self.resume_reading()

    def pause_reading(self) -> None:
        if self._reading and not self.closed:
            self.loop.remove_reader(self.fd)
        self._reading = False

    def resume_reading(self) -> None:
        if not self._reading and not self.closed:
            self.loop.add_reader(self.fd, self._ready)
            self._reading = True

    def close(self) -> None:
        """Stops reading and closes the descriptor (once; later calls do nothing)."""
        if self.closed:
            return
        self.pause_reading()
        self.closed = True
        os.close(self.fd)

    def is_closing(self) -> bool:
        return self.closed

    def _ready(self) -> None:
        try:
            data = os.read(self.fd, CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.close()
            self.reader.set_exception(e)
            return
        if data:
            self.reader.feed_data(data)
        else:
            self.close()
            self.reader.feed_eof()


def read_fd(fd: int) -> FdStream:
    """A stream over `fd`, which it now owns (the caller must not close it)."""
    return FdStream(fd, asyncio.get_running_loop())
