"""Reading a tar stream fast: read-ahead in a thread, headers parsed once, file data zero-copy.

`tarfile`'s stream mode ("r|") copies the rest of its buffer on every read, so a layer of ten
thousand small files moves gigabytes through memcpy, and it decompresses and hashes on the same
thread that creates the files. Here a producer thread reads (decompresses and hashes: both
release the GIL) 1 MiB blocks into a bounded queue while the consumer parses 512-byte headers
with `tarfile.TarInfo.frombuf` and hands file data to `os.write` as memoryview slices of those
blocks. Supports ustar, GNU long names/links and pax (local and global) headers; GNU sparse
files are refused with a clear error (image layers do not contain them).
"""

from __future__ import annotations

import os
import queue
import tarfile
import threading
from collections.abc import Callable, Iterator

BLOCK = 512
READ_AHEAD = 1 << 20
QUEUE_BLOCKS = 8
MAX_HEADER_PAYLOAD = 1 << 20  # a pax or GNU long-name record; real ones are a few hundred bytes
_DATA_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)
_PAX_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
_GNU_LONG = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"
_ZERO_BLOCK = bytes(BLOCK)


class TarStreamError(ValueError):
    """The stream is not a tar archive we can read (truncated, bad header, sparse member)."""


class ReadAhead:
    """Reads `source` in a background thread, `READ_AHEAD` bytes at a time, into a small queue.

    The consumer calls `next_block()`; an exception in the producer is re-raised there. `close()`
    stops the producer early (the consumer failed) without waiting for the rest of the stream.
    """

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(QUEUE_BLOCKS)
        self._stop = threading.Event()
        self._ended = False
        self._thread = threading.Thread(target=self._produce, name="tar-read-ahead", daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                block = self._read(READ_AHEAD)
                self._put(block)
                if not block:
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def next_block(self) -> bytes:
        """The next block; b"" at the end (and on every call after it)."""
        if self._ended:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        self._ended = not item
        return item

    def drain(self) -> None:
        """Read to the end (what follows the archive still counts for the stream's digest)."""
        while self.next_block():
            pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class TarStream:
    """Iterates the members of a tar read through a `ReadAhead`; see `members()`."""

    def __init__(self, source: ReadAhead) -> None:
        self._source = source
        self._view = memoryview(b"")
        self._eof = False
        self._pending = 0  # data (plus padding) of the current member not consumed yet
        self._padding = 0
        self._global_pax: dict[str, str] = {}

    # -- raw reading -----------------------------------------------------------------------
    def _fill(self) -> bool:
        if self._eof:
            return False
        block = self._source.next_block()
        if not block:
            self._eof = True
            return False
        self._view = memoryview(block)
        return True

    def _read_exact(self, size: int) -> bytes:
        if len(self._view) >= size:
            data = bytes(self._view[:size])
            self._view = self._view[size:]
            return data
        parts: list[bytes] = []
        needed = size
        while needed:
            if not self._view and not self._fill():
                raise TarStreamError("unexpected end of data (the tar stream is truncated)")
            piece = self._view[:needed]
            parts.append(bytes(piece))
            self._view = self._view[len(piece) :]
            needed -= len(piece)
        return b"".join(parts)

    def _chunks(self, size: int) -> Iterator[memoryview]:
        while size:
            if not self._view and not self._fill():
                raise TarStreamError("unexpected end of data (the tar stream is truncated)")
            piece = self._view[:size]
            self._view = self._view[len(piece) :]
            size -= len(piece)
            yield piece

    def _skip(self, size: int) -> None:
        for _ in self._chunks(size):
            pass

    # -- member data -----------------------------------------------------------------------
    def write_data(self, fd: int) -> None:
        """Write the current member's data to `fd` (call at most once per member)."""
        for piece in self._chunks(self._pending):
            while piece:
                written = os.write(fd, piece)
                piece = piece[written:]
        self._pending = 0

    def _finish_member(self) -> None:
        self._skip(self._pending + self._padding)
        self._pending = self._padding = 0

    # -- headers ---------------------------------------------------------------------------
    def members(self) -> Iterator[tarfile.TarInfo]:
        """Each member in order; its data is readable with `write_data` until the next one."""
        while True:
            self._finish_member()
            info = self._next_header()
            if info is None:
                return
            if info.type in _DATA_TYPES or info.type not in tarfile.SUPPORTED_TYPES:
                self._pending = info.size
                self._padding = -info.size % BLOCK
            yield info

    def _next_header(self) -> tarfile.TarInfo | None:
        long_name: str | None = None
        long_link: str | None = None
        pax: dict[str, str] = {}
        while True:
            if not self._view and not self._fill():
                return None  # a stream without end-of-archive blocks still ends cleanly
            raw = self._read_exact(BLOCK)
            if raw == _ZERO_BLOCK:
                return None  # end-of-archive marker
            try:
                info = tarfile.TarInfo.frombuf(raw, _ENCODING, _ERRORS)
            except tarfile.HeaderError as exc:
                raise TarStreamError(f"bad tar header: {exc}") from exc
            if info.size < 0:
                raise TarStreamError(f"tar member {info.name!r} has a negative size")
            if info.type in _GNU_LONG or info.type in _PAX_TYPES:
                if info.size > MAX_HEADER_PAYLOAD:  # held in memory: a hostile layer's bomb
                    raise TarStreamError(f"tar extended header of {info.size} bytes (at most "
                                         f"{MAX_HEADER_PAYLOAD}): not an image layer")
                payload = self._read_exact(info.size)
                self._skip(-info.size % BLOCK)
                if info.type == tarfile.GNUTYPE_LONGNAME:
                    long_name = _nul_terminated(payload)
                elif info.type == tarfile.GNUTYPE_LONGLINK:
                    long_link = _nul_terminated(payload)
                elif info.type == tarfile.XGLTYPE:
                    self._global_pax.update(_parse_pax(payload))
                else:
                    pax.update(_parse_pax(payload))
                continue
            if info.type == tarfile.GNUTYPE_SPARSE or any(k.startswith("GNU.sparse") for k in pax):
                raise TarStreamError(
                    f"tar member {info.name!r} is a GNU sparse file; image layers must not"
                    " contain sparse files (write the tar without --sparse)"
                )
            if long_name is not None:
                info.name = long_name.rstrip("/") if info.type == tarfile.DIRTYPE else long_name
            if long_link is not None:
                info.linkname = long_link
            headers = {**self._global_pax, **pax}
            if headers:
                _apply_pax(info, headers)
                if info.size < 0:
                    raise TarStreamError(f"tar member {info.name!r} has a negative size")
            return info


def _nul_terminated(payload: bytes) -> str:
    return payload.split(b"\x00", 1)[0].decode(_ENCODING, _ERRORS)


def _parse_pax(payload: bytes) -> dict[str, str]:
    """Records `LEN KEY=VALUE\\n`, LEN counting the whole record."""
    headers: dict[str, str] = {}
    pos = 0
    while pos < len(payload) and payload[pos] != 0:
        space = payload.find(b" ", pos)
        if space < 0:
            raise TarStreamError("bad pax header: record without a length")
        try:
            length = int(payload[pos:space])
        except ValueError as exc:
            raise TarStreamError("bad pax header: record length is not a number") from exc
        record = payload[space + 1 : pos + length]
        if length <= 0 or not record.endswith(b"\n") or b"=" not in record:
            raise TarStreamError("bad pax header: malformed record")
        key, _, value = record[:-1].partition(b"=")
        headers[key.decode(_ENCODING, _ERRORS)] = value.decode(_ENCODING, _ERRORS)
        pos += length
    return headers


def _apply_pax(info: tarfile.TarInfo, headers: dict[str, str]) -> None:
    """What tarfile does with pax keywords: they override the ustar fields."""
    try:
        for key, value in headers.items():
            if key == "path":
                info.name = value.rstrip("/") if info.type == tarfile.DIRTYPE else value
            elif key == "linkpath":
                info.linkname = value
            elif key in ("size", "uid", "gid"):
                setattr(info, key, int(value))
            elif key == "mtime":
                info.mtime = float(value)
            elif key in ("uname", "gname"):
                setattr(info, key, value)
    except ValueError as exc:
        raise TarStreamError(f"bad pax header value for {info.name!r}: {exc}") from exc
    info.pax_headers = headers

