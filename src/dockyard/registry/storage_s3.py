"""The S3 blob store: blobs and upload sessions as objects in one bucket, under an optional prefix.

    blobs/<algorithm>/<xx>/<hex>       one object per blob, written only after verification
                                       (algorithm: sha256, or sha512 when a client asks for it)
    uploads/<uuid>/state.json          repository, start time, multipart upload id and its parts,
                                       and the name of the tail object
    uploads/<uuid>/tail-<n>            received bytes not yet in a part (less than PART_SIZE)
    uploads/<uuid>/data                the staged object a multipart upload completes into

S3 parts must be at least 5 MiB (but the last), while PATCH chunks may be any size: bytes go
into a multipart upload in PART_SIZE parts and the rest waits in a tail object until the next
PATCH. Committing completes the upload into ``data`` (or takes the tail alone), checks the
digest (the running hash, or by reading it back after a restart) and only then copies it to
``blobs/``; a crash at any point leaves only session objects that expiry removes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dockyard.oci import REGISTERED_ALGORITHMS, SHA256, algorithm_of
from dockyard.registry.names import valid_digest
from dockyard.registry.storage import (
    BlobInfo,
    DigestMismatch,
    RunningHashes,
    StorageError,
    UploadState,
    UploadUnknown,
    blob_from_key,
    blob_key,
    digest_of,
    hash_stream,
    running_digest,
)
from dockyard.registry.storage_s3_client import ObjectReader, S3Client

PART_SIZE = 8 << 20  # S3's minimum part is 5 MiB


class S3BlobStorage:
    """Blobs and upload sessions in an S3-compatible bucket."""

    def __init__(self, client: S3Client) -> None:
        self.client = client
        self.hashes = RunningHashes()

    def __repr__(self) -> str:
        config = self.client.config
        return f"s3://{config.bucket}/{config.prefix} at {config.endpoint}"

    # blobs ----------------------------------------------------------------------------------
    def local_path(self, digest: str) -> Path | None:
        return None

    def stat(self, digest: str) -> BlobInfo | None:
        if not valid_digest(digest):
            return None
        info = self.client.head(_blob(digest))
        return None if info is None else BlobInfo(digest, info.size, info.modified)

    def exists(self, digest: str) -> bool:
        return self.stat(digest) is not None

    def open_blob(self, digest: str, offset: int = 0) -> ObjectReader:
        return self.client.open(_blob(digest), offset)

    def read_blob(self, digest: str) -> bytes:
        data = self.client.get(_blob(digest))
        if data is None:
            raise FileNotFoundError(f"blob {digest} is not in {self!r}")
        return data

    def put_blob(self, data: bytes, algorithm: str = SHA256) -> str:
        """Store small content (manifests) directly; returns its digest."""
        digest = digest_of(data, algorithm)
        if not self.exists(digest):
            self.client.put(_blob(digest), data)
        return digest

    def delete(self, digest: str) -> bool:
        if not self.exists(digest):
            return False
        self.client.delete(_blob(digest))
        return True

    def list_blobs(self) -> Iterator[BlobInfo]:
        for algorithm in REGISTERED_ALGORITHMS:
            for info in self.client.list_objects(f"blobs/{algorithm}/"):
                digest = blob_from_key(algorithm, info.key.rsplit("/", 1)[-1])
                if digest is not None and info.key == _blob(digest):
                    yield BlobInfo(digest, info.size, info.modified)

    # upload sessions ------------------------------------------------------------------------
    def start_upload(self, repository: str) -> UploadState:
        upload_id = str(uuid.uuid4())
        state: dict[str, Any] = {"repository": repository, "started": time.time(), "multipart": None,
                                 "parts": [], "tail": None, "tail_size": 0}
        self._save(upload_id, state)
        self.hashes.start(upload_id)
        return UploadState(upload_id, repository, state["started"], 0)

    def _load(self, upload_id: str) -> dict[str, Any]:
        try:
            canonical = str(uuid.UUID(upload_id))
        except ValueError:
            raise UploadUnknown(upload_id) from None
        raw = self.client.get(f"uploads/{canonical}/state.json")
        if raw is None:
            raise UploadUnknown(upload_id)
        try:
            state: dict[str, Any] = json.loads(raw)
        except ValueError:
            raise StorageError(f"upload {upload_id}: state.json in {self!r} is not JSON") from None
        return state

    def _save(self, upload_id: str, state: dict[str, Any]) -> None:
        self.client.put(f"uploads/{upload_id}/state.json", json.dumps(state).encode())

    def upload_state(self, upload_id: str) -> UploadState:
        state = self._load(upload_id)
        return UploadState(upload_id, state["repository"], state["started"], _received(state))

    def open_upload(self, upload_id: str) -> S3Writer:
        state = self._load(upload_id)
        return S3Writer(self, str(uuid.UUID(upload_id)), state)

    def cancel_upload(self, upload_id: str) -> None:
        try:
            upload_id = str(uuid.UUID(upload_id))  # never a key prefix other than a session's
        except ValueError:
            return
        try:
            state = self._load(upload_id)
        except UploadUnknown:
            state = None
        self.hashes.forget(upload_id)
        if state and state.get("multipart"):
            self.client.abort_multipart(f"uploads/{upload_id}/data", state["multipart"])
        for info in list(self.client.list_objects(f"uploads/{upload_id}/")):
            if info.key.endswith("/state.json"):
                continue
            self.client.delete(info.key)
        # The state goes last: while it exists, the session is found again and can be cancelled.
        self.client.request("DELETE", f"uploads/{upload_id}/state.json", missing_ok=True)

    def expire_uploads(self, max_age_seconds: float) -> int:
        """Remove sessions started longer ago than `max_age_seconds`; returns how many."""
        newest: dict[str, float] = {}
        for info in self.client.list_objects("uploads/"):
            upload_id = info.key.split("/")[1]
            newest[upload_id] = max(newest.get(upload_id, 0.0), info.modified)
        now = time.time()
        removed = 0
        for upload_id, modified in newest.items():
            try:
                started = float(self._load(upload_id)["started"])
            except (UploadUnknown, StorageError, KeyError, ValueError):
                started = modified
            if now - started > max_age_seconds:
                self.cancel_upload(upload_id)
                removed += 1
        # A crash between starting a multipart upload and saving the session's state leaves an
        # upload no session names; S3 keeps (and bills) its parts until it is aborted.
        for key, multipart_id, initiated in list(self.client.list_multipart("uploads/")):
            if now - initiated > max_age_seconds:
                self.client.abort_multipart(key, multipart_id)
        return removed


class S3Writer:
    """Appends to a session: full parts go to the multipart upload, the rest into a new tail."""

    def __init__(self, store: S3BlobStorage, upload_id: str, state: dict[str, Any]) -> None:
        self.store = store
        self.client = store.client
        self.upload_id = upload_id
        self.state = state
        self.session = f"uploads/{upload_id}/"
        tail = self.client.get(state["tail"]) if state["tail"] else b""
        if tail is None or len(tail) != state["tail_size"]:
            raise StorageError(f"upload {upload_id}: its tail object in {store!r} is missing or short")
        self.buffer = bytearray(tail)
        self.offset = _received(state)
        self._hasher = store.hashes.get(upload_id, self.offset)
        self._dirty = False
        self._done = False

    def write(self, block: bytes) -> None:
        assert not self._done, "write after commit or cancel"
        self.buffer += block
        if self._hasher is not None:
            self._hasher.update(block)
        self.offset += len(block)
        self._dirty = True
        if len(self.buffer) >= PART_SIZE:
            self._flush_part()

    def _flush_part(self) -> None:
        """The buffer becomes the next part; the saved state learns of it on close."""
        staging = self.session + "data"
        if self.state["multipart"] is None:
            self.state["multipart"] = self.client.create_multipart(staging)
        number = len(self.state["parts"]) + 1
        etag = self.client.upload_part(staging, self.state["multipart"], number, bytes(self.buffer))
        self.state["parts"].append([etag, len(self.buffer)])
        self.buffer.clear()

    def close(self, failed: bool = False) -> None:
        if self._done:
            return
        self._done = True
        if self._dirty:
            old_tail = self.state["tail"]
            self.state["tail"] = None
            if self.buffer:
                self.state["tail"] = f"{self.session}tail-{uuid.uuid4().hex}"
                self.client.put(self.state["tail"], bytes(self.buffer))
            self.state["tail_size"] = len(self.buffer)
            self.store._save(self.upload_id, self.state)
            if old_tail:
                self.client.delete(old_tail)
        # After a failed request the hash may have seen a block the store did not keep.
        self.store.hashes.put(self.upload_id, self.offset, None if failed else self._hasher)

    def commit(self, expected_digest: str) -> int:
        assert not self._done, "commit after close, commit or cancel"
        self._done = True
        target = _blob(expected_digest)
        size = self.offset
        if not self.state["parts"]:
            data = bytes(self.buffer)  # small enough to have been kept whole in the tail
            actual = running_digest(self._hasher, expected_digest) or digest_of(
                data, algorithm_of(expected_digest))
            self._check(expected_digest, actual)
            if not self.store.exists(expected_digest):
                self.client.put(target, data)
        else:
            staging = self.session + "data"
            if self.buffer:
                self._flush_part()
            self.client.complete_multipart(staging, self.state["multipart"],
                                           [etag for etag, _size in self.state["parts"]])
            self.state["multipart"] = None
            running = running_digest(self._hasher, expected_digest)
            if running is None:
                running, stored = hash_stream(self.client.open(staging), algorithm_of(expected_digest))
                if stored != size:
                    raise StorageError(f"upload {self.upload_id}: {stored} bytes staged, {size} received")
            self._check(expected_digest, running)
            if not self.store.exists(expected_digest):
                self.client.copy(staging, target, size)
        self.store.cancel_upload(self.upload_id)
        return size

    def _check(self, expected: str, actual: str) -> None:
        if actual != expected:
            self.store.cancel_upload(self.upload_id)
            raise DigestMismatch(expected, actual)

    def cancel(self) -> None:
        self._done = True
        if self.state["multipart"]:  # perhaps started by this writer, not yet in the saved state
            self.client.abort_multipart(self.session + "data", self.state["multipart"])
        self.store.cancel_upload(self.upload_id)


def _blob(digest: str) -> str:
    return "blobs/" + blob_key(digest)


def _received(state: dict[str, Any]) -> int:
    return sum(size for _etag, size in state["parts"]) + int(state["tail_size"])
