"""Content digests (`sha256:<64 hex>`): computing, validating, and hashing while streaming.

Everything content-addressed in Dockyard goes through here so that one rule decides what a valid
digest is; a digest string from the network is untrusted (it becomes a file name) and must pass
`validate_digest` before use. Dockyard writes sha256 everywhere; the registry also accepts the
other algorithm the image spec registers, sha512 (`is_registered_digest`, `new_hasher`), because
the distribution spec's conformance suite pushes and pulls content addressed by it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

SHA256 = "sha256"
# The image spec's registered algorithms and the length of their lowercase hex encoding.
REGISTERED_ALGORITHMS = {"sha256": 64, "sha512": 128}
_SHA256_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_REGISTERED_RE = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
_ANY_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
CHUNK = 1 << 20


class InvalidDigest(ValueError):
    """A string that is not a digest Dockyard accepts."""


class DigestMismatch(ValueError):
    """Content whose digest differs from the one it was announced with."""

    def __init__(self, expected: str, actual: str, what: str = "content") -> None:
        super().__init__(f"{what} has digest {actual}, expected {expected}")
        self.expected = expected
        self.actual = actual


def validate_digest(value: str) -> str:
    """Return `value` if it is `sha256:<64 lowercase hex>`, else raise InvalidDigest."""
    if not isinstance(value, str):
        raise InvalidDigest(f"digest must be a string, got {type(value).__name__}")
    if _SHA256_RE.match(value):
        return value
    if _ANY_DIGEST_RE.match(value) and not value.startswith("sha256:"):
        algorithm = value.split(":", 1)[0]
        raise InvalidDigest(
            f"unsupported digest algorithm {algorithm!r} in {value!r} (only sha256)"
        )
    raise InvalidDigest(
        f"invalid digest {value!r}: expected 'sha256:' followed by 64 lowercase hex"
    )


def is_digest(value: str) -> bool:
    return isinstance(value, str) and bool(_SHA256_RE.match(value))


def is_registered_digest(value: str) -> bool:
    """True for `sha256:<64 hex>` and `sha512:<128 hex>` (the image spec's registered ones)."""
    return isinstance(value, str) and bool(_REGISTERED_RE.match(value))


def algorithm_of(value: str) -> str:
    """The algorithm of a registered digest (`sha512` of `sha512:...`)."""
    if not is_registered_digest(value):
        raise InvalidDigest(
            f"invalid digest {value!r}: expected sha256:<64 hex> or sha512:<128 hex>"
        )
    return value.split(":", 1)[0]


def new_hasher(algorithm: str = SHA256) -> hashlib._Hash:
    """A fresh hash object for a registered algorithm; `hasher.name` is the algorithm."""
    if algorithm not in REGISTERED_ALGORITHMS:
        raise InvalidDigest(f"unsupported digest algorithm {algorithm!r} (sha256 or sha512)")
    return hashlib.new(algorithm)


def compute_digest(data: bytes, algorithm: str = SHA256) -> str:
    """`<algorithm>:<hex>` of `data`."""
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return f"{algorithm}:{hasher.hexdigest()}"


def digest_hex(value: str) -> str:
    """The hex part of a validated digest (safe to use as a file name)."""
    return validate_digest(value).split(":", 1)[1]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_stream(stream: BinaryIO) -> tuple[str, int]:
    """Digest and size of everything left in `stream`, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
    return "sha256:" + h.hexdigest(), size


def digest_file(path: Path) -> tuple[str, int]:
    with open(path, "rb") as f:
        return digest_stream(f)


def digest_chunks(chunks: Iterable[bytes]) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    for chunk in chunks:
        h.update(chunk)
        size += len(chunk)
    return "sha256:" + h.hexdigest(), size


class _HashingStream:
    """What both hashing file objects share: the running sha256, the size, no seeking, and a
    close() that leaves the wrapped stream to its owner."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        """Closing the hasher never closes the wrapped stream: its owner does that."""

    @property
    def closed(self) -> bool:
        return False


class HashingWriter(_HashingStream):
    """A write-only file object that hashes and counts bytes, then passes them to `target`.

    `target` may be None to only hash (e.g. to compute a diff_id without storing the tar).
    """

    def __init__(self, target: BinaryIO | HashingWriter | None = None) -> None:
        super().__init__()
        self._target = target

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._hash.update(data)
        self.size += len(data)
        if self._target is not None:
            self._target.write(data)
        return len(data)

    def flush(self) -> None:
        if self._target is not None:
            self._target.flush()

    def detach(self) -> None:
        """Stop passing bytes on (an aborted writer must not touch a closed target)."""
        self._target = None

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False


class HashingReader(_HashingStream):
    """A read-only file object that hashes and counts what is read from `source`."""

    def __init__(self, source: BinaryIO) -> None:
        super().__init__()
        self._source = source

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(n)
        self._hash.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read the rest of the source so that `digest` covers all of it."""
        while self.read(CHUNK):
            pass

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False
