"""Streaming (de)compression of layer blobs: gzip (isal when importable, else zlib) and zstd.

Nothing here holds a whole layer in memory: every function wraps a file object.
"""

from __future__ import annotations

import functools
import gzip
from types import ModuleType
from typing import Any, BinaryIO, cast

# isal and zstandard are imported on first use: together ~45 ms of start-up that a build
# whose steps all hit the cache never needs


@functools.cache
def _igzip() -> ModuleType | None:
    """isal's gzip: several times faster than zlib; missing on some architectures."""
    try:
        from isal import igzip
    except ImportError:  # pragma: no cover - depends on the platform
        return None
    return igzip


def _zstandard() -> ModuleType:
    import zstandard

    return zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
COMPRESSIONS = ("none", "gzip", "zstd")


class _Prefixed:
    """A reader that returns `prefix` before the rest of `stream` (lets us sniff magic bytes)."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self._prefix = prefix
        self._stream = stream

    def read(self, n: int = -1) -> bytes:
        if self._prefix:
            if n is None or n < 0:
                data, self._prefix = self._prefix + self._stream.read(), b""
                return data
            data, self._prefix = self._prefix[:n], self._prefix[n:]
            if len(data) < n:
                data += self._stream.read(n - len(data))
            return data
        return self._stream.read(n)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """The owner of the underlying stream closes it."""


def sniff_compression(stream: BinaryIO) -> tuple[str, BinaryIO]:
    """Detect gzip/zstd/none from the first bytes; returns the name and a stream starting at 0."""
    head = b""
    while len(head) < 4:
        chunk = stream.read(4 - len(head))
        if not chunk:
            break
        head += chunk
    wrapped = cast(BinaryIO, _Prefixed(head, stream))
    if head.startswith(GZIP_MAGIC):
        return "gzip", wrapped
    if head.startswith(ZSTD_MAGIC):
        return "zstd", wrapped
    return "none", wrapped


def decompressing_reader(stream: BinaryIO, compression: str | None = None) -> BinaryIO:
    """A reader of the uncompressed bytes of `stream`; compression None means detect it."""
    if compression is None:
        compression, stream = sniff_compression(stream)
    if compression == "gzip":
        igzip = _igzip()
        if igzip is not None:
            return cast(BinaryIO, igzip.IGzipFile(fileobj=stream, mode="rb"))
        return cast(BinaryIO, gzip.GzipFile(fileobj=stream, mode="rb"))
    if compression == "zstd":
        reader = _zstandard().ZstdDecompressor().stream_reader(
            stream, read_across_frames=True, closefd=False
        )
        return cast(BinaryIO, reader)
    if compression == "none":
        return stream
    raise ValueError(f"unknown compression {compression!r} (use none, gzip or zstd)")


def compressing_writer(target: Any, compression: str, level: int | None = None) -> Any:
    """A writer that compresses into `target`; close() it to flush the trailer (target stays open).

    gzip output is deterministic: no file name and mtime 0 in the header.
    """
    if compression == "gzip":
        igzip = _igzip()
        if igzip is not None:
            return igzip.IGzipFile(
                fileobj=target, mode="wb", compresslevel=1 if level is None else level, mtime=0
            )
        return gzip.GzipFile(
            fileobj=target, mode="wb", compresslevel=6 if level is None else level, mtime=0
        )
    if compression == "zstd":
        compressor = _zstandard().ZstdCompressor(level=3 if level is None else level)
        return compressor.stream_writer(target, closefd=False)
    if compression == "none":
        return _NoClose(target)
    raise ValueError(f"unknown compression {compression!r} (use none, gzip or zstd)")


class _NoClose:
    def __init__(self, target: Any) -> None:
        self._target = target

    def write(self, data: bytes) -> int:
        return int(self._target.write(data))

    def flush(self) -> None:
        self._target.flush()

    def close(self) -> None:
        self._target.flush()
