"""The filesystem blob store: blobs and upload sessions under DATA/registry.

    blobs/<algorithm>/<xx>/<hex>     one copy of each blob, shared by all repositories
                                     (algorithm: sha256, or sha512 when a client asks for it)
    uploads/<uuid>/data              bytes received so far for an upload session
    uploads/<uuid>/info.json         {"repository": ..., "started": epoch}

A blob appears under ``blobs/`` only by ``os.replace`` of a file whose digest was verified,
so readers never see a partial blob and a crash mid-upload leaves only an upload directory
that expiry removes. Files are created 0600 and directories 0700: only the server reads them.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dockyard.oci import REGISTERED_ALGORITHMS, SHA256, algorithm_of
from dockyard.registry.storage import (
    BlobInfo,
    DigestMismatch,
    RunningHashes,
    UploadState,
    UploadUnknown,
    blob_from_key,
    blob_key,
    digest_of,
    hash_stream,
    running_digest,
)
from dockyard.store import atomic_write_bytes, publish_file

FILE_MODE = 0o600
DIR_MODE = 0o700


class FilesystemBlobStorage:
    """Blobs and upload sessions on a local filesystem."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs_dir = root / "blobs"
        self.uploads_dir = root / "uploads"
        (self.blobs_dir / "sha256").mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        self.uploads_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        self.hashes = RunningHashes()

    def __repr__(self) -> str:
        return f"file://{self.root}"

    # blobs -------------------------------------------------------------------------------
    def _path(self, digest: str) -> Path:
        return self.blobs_dir / blob_key(digest)

    def local_path(self, digest: str) -> Path | None:
        return self._path(digest)

    def stat(self, digest: str) -> BlobInfo | None:
        try:
            st = self._path(digest).stat()
        except (FileNotFoundError, ValueError):
            return None
        return BlobInfo(digest, st.st_size, st.st_mtime)

    def exists(self, digest: str) -> bool:
        return self.stat(digest) is not None

    def open_blob(self, digest: str, offset: int = 0) -> BinaryIO:
        f = open(self._path(digest), "rb")  # noqa: SIM115 - the caller closes it
        f.seek(offset)
        return f

    def read_blob(self, digest: str) -> bytes:
        return self._path(digest).read_bytes()

    def put_blob(self, data: bytes, algorithm: str = SHA256) -> str:
        """Store small content (manifests) directly; returns its digest."""
        digest = digest_of(data, algorithm)
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            atomic_write_bytes(path, data, mode=FILE_MODE)
        return digest

    def delete(self, digest: str) -> bool:
        try:
            self._path(digest).unlink()
            return True
        except (FileNotFoundError, ValueError):
            return False

    def list_blobs(self) -> Iterator[BlobInfo]:
        for algorithm in REGISTERED_ALGORITHMS:
            tree = self.blobs_dir / algorithm
            if not tree.is_dir():
                continue
            for prefix in tree.iterdir():
                if not prefix.is_dir():
                    continue
                for entry in os.scandir(prefix):
                    digest = blob_from_key(algorithm, entry.name)
                    if digest is None:  # a temporary file of a write in progress
                        continue
                    st = entry.stat()
                    yield BlobInfo(digest, st.st_size, st.st_mtime)

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
        directory.mkdir(mode=DIR_MODE)
        started = time.time()
        info = json.dumps({"repository": repository, "started": started}).encode()
        _create(directory / "info.json", info)
        _create(directory / "data", b"")
        self.hashes.start(upload_id)
        return UploadState(upload_id, repository, started, 0)

    def upload_state(self, upload_id: str) -> UploadState:
        directory = self._upload_dir(upload_id)
        try:
            info = json.loads((directory / "info.json").read_text())
            size = (directory / "data").stat().st_size
        except (FileNotFoundError, ValueError):
            raise UploadUnknown(upload_id) from None
        return UploadState(upload_id, info["repository"], info["started"], size)

    def open_upload(self, upload_id: str) -> FilesystemWriter:
        directory = self._upload_dir(upload_id)
        if not (directory / "data").exists():
            raise UploadUnknown(upload_id)
        return FilesystemWriter(self, upload_id, directory / "data")

    def cancel_upload(self, upload_id: str) -> None:
        directory = self._upload_dir(upload_id)
        self.hashes.forget(upload_id)
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


class FilesystemWriter:
    """Appends blocks to an upload's data file, hashing as it goes.

    Callers batch network chunks into large blocks; `write` may run in a worker thread
    (sha256 and file writes release the GIL), which lets receiving overlap with storing.
    """

    def __init__(self, store: FilesystemBlobStorage, upload_id: str, path: Path) -> None:
        self.store = store
        self.upload_id = upload_id
        self.path = path
        self._file: BinaryIO | None = open(path, "ab")  # noqa: SIM115 - closed in close()
        self.offset = self._file.tell()
        self._hasher = store.hashes.get(upload_id, self.offset)

    def write(self, block: bytes) -> None:
        assert self._file is not None, "write after commit or cancel"
        self._file.write(block)
        if self._hasher is not None:
            self._hasher.update(block)
        self.offset += len(block)

    def close(self, failed: bool = False) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            # A failed request may have written part of its body: the running hash no longer
            # matches the file, so forget it; committing will hash the file from disk.
            self.store.hashes.put(self.upload_id, self.offset, None if failed else self._hasher)

    def commit(self, expected_digest: str) -> int:
        self.close()
        hasher = self.store.hashes.get(self.upload_id, self.offset)
        actual, size = running_digest(hasher, expected_digest) or "", self.offset
        if not actual:
            actual, size = hash_stream(open(self.path, "rb"),  # noqa: SIM115 - closed by hash_stream
                                       algorithm_of(expected_digest))
        if actual != expected_digest:
            self.cancel()
            raise DigestMismatch(expected_digest, actual)
        target = self.store._path(expected_digest)
        target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        publish_file(self.path, target, mode=FILE_MODE)
        self.cancel()
        return size

    def cancel(self) -> None:
        self.close(failed=True)
        self.store.cancel_upload(self.upload_id)


def _create(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
