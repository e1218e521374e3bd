"""Content-addressed blob storage behind one narrow interface (distribution's StorageDriver idea).

Filesystem layout under DATA/registry:

    blobs/sha256/<xx>/<hex>          one copy of each blob, shared by all repositories
    uploads/<uuid>/data              bytes received so far for an upload session
    uploads/<uuid>/info.json         {"repository": ..., "started": epoch}

A blob appears under ``blobs/`` only by ``os.replace`` of a file whose digest was verified,
so readers never see a partial blob and a crash mid-upload leaves only an upload directory
that expiry removes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dockyard.registry.names import valid_digest
from dockyard.store import atomic_write_bytes, publish_file

WRITE_BUFFER = 1 << 20


class UploadUnknown(Exception):
    """No such upload session (never started, finished, cancelled or expired)."""


class DigestMismatch(Exception):
    """The bytes received do not hash to the digest the client claimed."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"digest mismatch: expected {expected}, computed {actual}")
        self.expected = expected
        self.actual = actual


@dataclass
class UploadState:
    id: str
    repository: str
    started: float
    offset: int


class BlobStore(Protocol):
    """What the registry needs from a storage backend."""

    def blob_size(self, digest: str) -> int | None: ...
    def blob_path(self, digest: str) -> Path: ...
    def read_blob(self, digest: str) -> bytes: ...
    def put_blob(self, data: bytes) -> str: ...
    def delete_blob(self, digest: str) -> bool: ...
    def iter_blobs(self) -> Iterator[tuple[str, float]]: ...
    def start_upload(self, repository: str) -> UploadState: ...
    def upload_state(self, upload_id: str) -> UploadState: ...
    def append(self, upload_id: str, chunk: bytes) -> int: ...
    def finish_upload(self, upload_id: str, expected_digest: str) -> int: ...
    def cancel_upload(self, upload_id: str) -> None: ...
    def expire_uploads(self, max_age_seconds: float) -> int: ...


class FilesystemBlobStore:
    """Blobs and upload sessions on a local filesystem."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs_dir = root / "blobs" / "sha256"
        self.uploads_dir = root / "uploads"
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        # Running sha256 per open session so finishing a chunked upload does not re-read it.
        # hashlib state cannot be persisted, so after a restart the file is hashed once more.
        self._hashers: dict[str, tuple[int, hashlib._Hash]] = {}
        self._lock = threading.Lock()

    # blobs -------------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        if not valid_digest(digest):
            raise ValueError(f"invalid digest {digest!r}")
        hexpart = digest.split(":", 1)[1]
        return self.blobs_dir / hexpart[:2] / hexpart

    def blob_size(self, digest: str) -> int | None:
        try:
            return self.blob_path(digest).stat().st_size
        except (FileNotFoundError, ValueError):
            return None

    def read_blob(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    def put_blob(self, data: bytes) -> str:
        """Store small content (manifests) directly; returns its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not path.exists():
            atomic_write_bytes(path, data)
        return digest

    def delete_blob(self, digest: str) -> bool:
        try:
            self.blob_path(digest).unlink()
            return True
        except FileNotFoundError:
            return False

    def iter_blobs(self) -> Iterator[tuple[str, float]]:
        """(digest, mtime) of every stored blob."""
        for prefix in self.blobs_dir.iterdir():
            if not prefix.is_dir():
                continue
            for entry in os.scandir(prefix):
                if entry.name.startswith("."):
                    continue
                yield "sha256:" + entry.name, entry.stat().st_mtime

    # uploads -----------------------------------------------------------------------------
    def _upload_dir(self, upload_id: str) -> Path:
        try:
            canonical = str(uuid.UUID(upload_id))
        except ValueError:
            raise UploadUnknown(upload_id) from None
        return self.uploads_dir / canonical

    def start_upload(self, repository: str) -> UploadState:
        upload_id = str(uuid.uuid4())
        directory = self.uploads_dir / upload_id
        directory.mkdir()
        started = time.time()
        (directory / "info.json").write_text(json.dumps({"repository": repository, "started": started}))
        (directory / "data").touch()
        with self._lock:
            self._hashers[upload_id] = (0, hashlib.sha256())
        return UploadState(upload_id, repository, started, 0)

    def upload_state(self, upload_id: str) -> UploadState:
        directory = self._upload_dir(upload_id)
        try:
            info = json.loads((directory / "info.json").read_text())
            size = (directory / "data").stat().st_size
        except (FileNotFoundError, ValueError):
            raise UploadUnknown(upload_id) from None
        return UploadState(upload_id, info["repository"], info["started"], size)

    def open_append(self, upload_id: str) -> UploadAppender:
        """A writer that appends to the session and keeps its running hash in step."""
        directory = self._upload_dir(upload_id)
        if not (directory / "data").exists():
            raise UploadUnknown(upload_id)
        return UploadAppender(self, upload_id, directory / "data")

    def append(self, upload_id: str, chunk: bytes) -> int:
        with self.open_append(upload_id) as appender:
            appender.write(chunk)
        return appender.offset

    def _hasher_for(self, upload_id: str, offset: int) -> hashlib._Hash | None:
        with self._lock:
            entry = self._hashers.get(upload_id)
        if entry is None or entry[0] != offset:
            return None
        return entry[1]

    def _set_hasher(self, upload_id: str, offset: int, hasher: hashlib._Hash | None) -> None:
        with self._lock:
            if hasher is None:
                self._hashers.pop(upload_id, None)
            else:
                self._hashers[upload_id] = (offset, hasher)

    def finish_upload(self, upload_id: str, expected_digest: str) -> int:
        """Verify the session's bytes against `expected_digest` and publish them as that blob.

        On a mismatch the session is removed and nothing becomes visible.
        """
        directory = self._upload_dir(upload_id)
        data = directory / "data"
        try:
            size = data.stat().st_size
        except FileNotFoundError:
            raise UploadUnknown(upload_id) from None
        hasher = self._hasher_for(upload_id, size)
        if hasher is None:
            hasher = hashlib.sha256()
            with open(data, "rb") as f:
                while block := f.read(WRITE_BUFFER):
                    hasher.update(block)
        actual = "sha256:" + hasher.hexdigest()
        if actual != expected_digest:
            self.cancel_upload(upload_id)
            raise DigestMismatch(expected_digest, actual)
        target = self.blob_path(expected_digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        publish_file(data, target)
        self.cancel_upload(upload_id)
        return size

    def cancel_upload(self, upload_id: str) -> None:
        directory = self._upload_dir(upload_id)
        self._set_hasher(upload_id, 0, None)
        shutil.rmtree(directory, ignore_errors=True)

    def expire_uploads(self, max_age_seconds: float) -> int:
        """Remove sessions started longer ago than `max_age_seconds`; returns how many."""
        now = time.time()
        removed = 0
        for directory in self.uploads_dir.iterdir():
            try:
                started = json.loads((directory / "info.json").read_text())["started"]
            except (FileNotFoundError, ValueError, KeyError, NotADirectoryError):
                started = directory.stat().st_mtime
            if now - started > max_age_seconds:
                self.cancel_upload(directory.name)
                removed += 1
        return removed


class UploadAppender:
    """Context manager: appends blocks to an upload's data file, hashing as it goes.

    Callers batch network chunks into large blocks; `write` may run in a worker thread
    (sha256 and file writes release the GIL), which lets receiving overlap with storing.
    """

    def __init__(self, store: FilesystemBlobStore, upload_id: str, path: Path) -> None:
        self.store = store
        self.upload_id = upload_id
        self.path = path
        self._file = open(path, "ab")  # noqa: SIM115 - closed in __exit__
        self.offset = self._file.tell()
        self._hasher = store._hasher_for(upload_id, self.offset)

    def write(self, block: bytes) -> None:
        self._file.write(block)
        if self._hasher is not None:
            self._hasher.update(block)
        self.offset += len(block)

    def __enter__(self) -> UploadAppender:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._file.close()
        if exc_type is None:
            self.store._set_hasher(self.upload_id, self.offset, self._hasher)
        else:
            # A failed request may have written part of its body: the running hash no longer
            # matches the file, so forget it; finishing will hash the file from disk.
            self.store._set_hasher(self.upload_id, 0, None)
