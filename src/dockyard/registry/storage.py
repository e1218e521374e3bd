"""Content-addressed blob storage behind one narrow interface (distribution's storage driver model).

A backend stores blobs by digest and keeps resumable upload sessions. The registry reaches
storage only through `BlobStorage`: read a blob from an offset, write an upload session through a
`BlobWriter` whose `commit(digest)` verifies the bytes before the blob becomes visible,
stat/exists/delete/list for garbage collection, and `local_path` as an optional fast path that
only a backend with local files has. Backends: `storage_fs` (DATA/registry) and `storage_s3`
(S3-compatible object storage); `storage_select.open_blob_storage` picks one from a URL.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dockyard.oci import SHA256, algorithm_of, compute_digest, new_hasher
from dockyard.registry.names import valid_digest

WRITE_BUFFER = 1 << 20


class UploadUnknown(Exception):
    """No such upload session (never started, finished, cancelled or expired)."""


class DigestMismatch(Exception):
    """The bytes received do not hash to the digest the client claimed."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"digest mismatch: expected {expected}, computed {actual}")
        self.expected = expected
        self.actual = actual


class StorageError(Exception):
    """The storage backend failed (unreachable, refused, inconsistent); not the client's fault."""


@dataclass
class UploadState:
    id: str
    repository: str
    started: float
    offset: int


@dataclass(frozen=True)
class BlobInfo:
    digest: str
    size: int
    modified: float  # epoch seconds the blob was written


class BlobReader(Protocol):
    """Bytes of one blob from some offset on; `read` returns b"" only at the end."""

    def read(self, size: int, /) -> bytes: ...
    def close(self) -> None: ...


class BlobWriter(Protocol):
    """Appends to one upload session. `close` keeps what was written (a broken request leaves a
    resumable session; `failed` says the last block may be partial), `commit` publishes it and
    ends the session, `cancel` throws it away."""

    offset: int

    def write(self, block: bytes) -> None: ...
    def close(self, failed: bool = False) -> None: ...
    def commit(self, expected_digest: str) -> int:
        """Verify everything written against `expected_digest`, then make it that blob; returns
        its size. On a mismatch the session is removed and nothing becomes visible."""
        ...

    def cancel(self) -> None: ...


class BlobStorage(Protocol):
    """What the registry needs from a storage backend."""

    def stat(self, digest: str) -> BlobInfo | None: ...
    def exists(self, digest: str) -> bool: ...
    def open_blob(self, digest: str, offset: int = 0) -> BlobReader: ...
    def read_blob(self, digest: str) -> bytes: ...
    def local_path(self, digest: str) -> Path | None:
        """The blob's file when the backend keeps blobs as local files, else None."""
        ...

    def put_blob(self, data: bytes, algorithm: str = SHA256) -> str:
        """Store small content (manifests) under its `algorithm` digest; returns that digest."""
        ...

    def delete(self, digest: str) -> bool: ...
    def list_blobs(self) -> Iterator[BlobInfo]: ...
    def start_upload(self, repository: str) -> UploadState: ...
    def upload_state(self, upload_id: str) -> UploadState: ...
    def open_upload(self, upload_id: str) -> BlobWriter: ...
    def cancel_upload(self, upload_id: str) -> None: ...
    def expire_uploads(self, max_age_seconds: float) -> int: ...


def blob_key(digest: str) -> str:
    """`<algorithm>/<xx>/<hex>` (`sha256/ab/ab12...`): where a blob lives below a backend's
    blob root; each algorithm has its own tree."""
    if not valid_digest(digest):
        raise ValueError(f"invalid digest {digest!r}")
    algorithm, hexpart = digest.split(":", 1)
    return f"{algorithm}/{hexpart[:2]}/{hexpart}"


def digest_of(data: bytes, algorithm: str = SHA256) -> str:
    return compute_digest(data, algorithm)


def blob_from_key(algorithm: str, hexpart: str) -> str | None:
    """The digest a stored `<algorithm>/<xx>/<hex>` name stands for, None for a stray file."""
    digest = f"{algorithm}:{hexpart}"
    return digest if valid_digest(digest) else None


class RunningHashes:
    """sha256 state per open upload session, so committing a chunked upload does not re-read it.

    Uploads are hashed with sha256 as they arrive (the default, nearly every client); a session
    committed with another algorithm is hashed again from the stored bytes (`verified_digest`).
    hashlib state cannot be persisted: after a restart (or on another replica) the entry is
    missing or its offset disagrees with the session, and the backend hashes the stored bytes.
    """

    def __init__(self) -> None:
        self._hashers: dict[str, tuple[int, hashlib._Hash]] = {}
        self._lock = threading.Lock()

    def start(self, upload_id: str) -> None:
        with self._lock:
            self._hashers[upload_id] = (0, hashlib.sha256())

    def get(self, upload_id: str, offset: int) -> hashlib._Hash | None:
        with self._lock:
            entry = self._hashers.get(upload_id)
        if entry is None or entry[0] != offset:
            return None
        return entry[1]

    def put(self, upload_id: str, offset: int, hasher: hashlib._Hash | None) -> None:
        with self._lock:
            if hasher is None:
                self._hashers.pop(upload_id, None)
            else:
                self._hashers[upload_id] = (offset, hasher)

    def forget(self, upload_id: str) -> None:
        self.put(upload_id, 0, None)


def hash_stream(reader: BlobReader, algorithm: str = SHA256) -> tuple[str, int]:
    """(digest, size) of everything `reader` yields; closes it."""
    hasher = new_hasher(algorithm)
    size = 0
    try:
        while block := reader.read(WRITE_BUFFER):
            hasher.update(block)
            size += len(block)
    finally:
        reader.close()
    return f"{algorithm}:{hasher.hexdigest()}", size


def running_digest(hasher: hashlib._Hash | None, expected_digest: str) -> str | None:
    """The running hash's digest when it uses `expected_digest`'s algorithm; None means the
    caller must hash the stored bytes with `algorithm_of(expected_digest)`."""
    if hasher is None or hasher.name != algorithm_of(expected_digest):
        return None
    return f"{hasher.name}:{hasher.hexdigest()}"
