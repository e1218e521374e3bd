"""One suite for every blob-store backend: the filesystem and S3 (against a real S3 server)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import pytest

from dockyard.registry.storage import BlobStorage, DigestMismatch, UploadUnknown


@pytest.fixture
def reopen(blob_store_opener: Callable[[], BlobStorage]) -> Callable[[], BlobStorage]:
    """Opens the test's store anew, as a restarted server (no in-memory state) would."""
    return blob_store_opener


@pytest.fixture
def store(reopen: Callable[[], BlobStorage]) -> BlobStorage:
    return reopen()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def append(store: BlobStorage, upload_id: str, data: bytes, *, blocks: int = 1 << 20) -> int:
    writer = store.open_upload(upload_id)
    for start in range(0, len(data), blocks):
        writer.write(data[start:start + blocks])
    writer.close()
    return writer.offset


def finish(store: BlobStorage, upload_id: str, digest: str) -> int:
    writer = store.open_upload(upload_id)
    try:
        return writer.commit(digest)
    finally:
        writer.close()


def test_put_and_read_small_blob(store: BlobStorage) -> None:
    digest = store.put_blob(b"manifest bytes")
    assert digest == sha(b"manifest bytes")
    assert store.read_blob(digest) == b"manifest bytes"
    info = store.stat(digest)
    assert info is not None and info.size == len(b"manifest bytes") and info.digest == digest
    assert store.exists(digest)
    assert store.put_blob(b"manifest bytes") == digest  # storing it again changes nothing


def test_open_blob_at_an_offset(store: BlobStorage) -> None:
    data = bytes(range(256)) * 64
    digest = store.put_blob(data)
    reader = store.open_blob(digest, 1000)
    try:
        got = b""
        while block := reader.read(777):
            got += block
    finally:
        reader.close()
    assert got == data[1000:]
    path = store.local_path(digest)
    assert path is None or path.read_bytes() == data  # the fast path, where a backend has one


def test_chunked_upload_is_invisible_until_verified(store: BlobStorage) -> None:
    data = b"a" * 1000 + b"b" * 1000
    state = store.start_upload("x/y")
    assert append(store, state.id, data[:1000]) == 1000
    assert store.upload_state(state.id).offset == 1000
    assert store.upload_state(state.id).repository == "x/y"
    assert not store.exists(sha(data))
    append(store, state.id, data[1000:])
    assert finish(store, state.id, sha(data)) == len(data)
    assert store.read_blob(sha(data)) == data
    with pytest.raises(UploadUnknown):
        store.upload_state(state.id)


def test_large_upload_in_odd_chunks_resumed_after_a_restart(reopen: Callable[[], BlobStorage]) -> None:
    """Bigger than an S3 multipart part, sent as uneven PATCHes, the server restarted halfway."""
    data = os.urandom(21 * (1 << 20) + 12345)
    store = reopen()
    state = store.start_upload("x/y")
    cut = [0, 3 * (1 << 20) + 7, 11 * (1 << 20) + 1, 13 * (1 << 20), len(data)]
    for start, end in zip(cut[:2], cut[1:3], strict=True):
        append(store, state.id, data[start:end], blocks=(1 << 20) + 3)
    store = reopen()  # a restart: no running hash, no buffers in memory
    assert store.upload_state(state.id).offset == cut[2]
    for start, end in zip(cut[2:4], cut[3:], strict=True):
        append(store, state.id, data[start:end])
    assert store.upload_state(state.id).offset == len(data)
    assert not store.exists(sha(data))
    assert finish(store, state.id, sha(data)) == len(data)
    info = store.stat(sha(data))
    assert info is not None and info.size == len(data)
    reader = store.open_blob(sha(data), len(data) - 5000)
    assert reader.read(5000) == data[-5000:]
    reader.close()


def test_digest_mismatch_publishes_nothing(store: BlobStorage) -> None:
    state = store.start_upload("x/y")
    append(store, state.id, b"content")
    with pytest.raises(DigestMismatch):
        finish(store, state.id, sha(b"other"))
    assert not store.exists(sha(b"content"))
    assert not store.exists(sha(b"other"))
    with pytest.raises(UploadUnknown):
        store.upload_state(state.id)


def test_hash_survives_losing_the_in_memory_state(reopen: Callable[[], BlobStorage]) -> None:
    store = reopen()
    state = store.start_upload("x/y")
    append(store, state.id, b"part one ")
    reopened = reopen()  # a restart: no running hash in memory
    append(reopened, state.id, b"part two")
    assert finish(reopened, state.id, sha(b"part one part two")) == 17


def test_a_failed_request_keeps_its_bytes_but_not_its_hash(store: BlobStorage) -> None:
    state = store.start_upload("x/y")
    writer = store.open_upload(state.id)
    writer.write(b"arrived ")
    writer.close(failed=True)  # the connection broke after these bytes
    assert store.upload_state(state.id).offset == 8
    append(store, state.id, b"and the rest")
    assert finish(store, state.id, sha(b"arrived and the rest")) == 20


def test_committing_a_blob_that_already_exists(store: BlobStorage) -> None:
    digest = store.put_blob(b"same bytes")
    state = store.start_upload("x/y")
    append(store, state.id, b"same bytes")
    assert finish(store, state.id, digest) == 10
    assert store.read_blob(digest) == b"same bytes"


def test_cancel_removes_the_session(store: BlobStorage) -> None:
    state = store.start_upload("x/y")
    writer = store.open_upload(state.id)
    writer.write(b"never mind")
    writer.cancel()
    with pytest.raises(UploadUnknown):
        store.upload_state(state.id)
    with pytest.raises(UploadUnknown):
        store.open_upload(state.id)


def test_unknown_and_malformed_upload_ids(store: BlobStorage) -> None:
    for bad in ("nope", "../../etc", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(UploadUnknown):
            store.upload_state(bad)
        with pytest.raises(UploadUnknown):
            store.open_upload(bad)


def test_expire_list_and_delete(store: BlobStorage) -> None:
    state = store.start_upload("x/y")
    append(store, state.id, b"abandoned")
    assert store.expire_uploads(3600) == 0
    assert store.expire_uploads(-1) == 1
    with pytest.raises(UploadUnknown):
        store.upload_state(state.id)
    digest = store.put_blob(b"gone soon")
    assert [(b.digest, b.size) for b in store.list_blobs()] == [(digest, 9)]
    assert store.delete(digest) and not store.delete(digest)
    assert list(store.list_blobs()) == []


def test_invalid_digests_are_refused(store: BlobStorage) -> None:
    assert store.stat("sha256:../../etc/passwd") is None
    assert not store.exists("sha256:../../etc/passwd")
    assert not store.delete("sha256:../../x")
    with pytest.raises(ValueError):
        store.open_blob("sha256:../../x")


def test_sha512_blobs_beside_sha256(store: BlobStorage) -> None:
    """sha512 content: verified with sha512 (the running sha256 does not apply, so the stored
    bytes are hashed again, across S3 parts too), kept and listed under its own algorithm."""
    data = os.urandom(9 * (1 << 20) + 321)  # more than one S3 part
    sha512 = "sha512:" + hashlib.sha512(data).hexdigest()
    state = store.start_upload("x/y")
    append(store, state.id, data)
    wrong = "sha512:" + hashlib.sha512(b"other").hexdigest()
    with pytest.raises(DigestMismatch):
        finish(store, state.id, wrong)
    assert not store.exists(wrong)
    state = store.start_upload("x/y")
    append(store, state.id, data)
    assert finish(store, state.id, sha512) == len(data)
    manifest = store.put_blob(b'{"small": "content"}', "sha512")
    assert manifest == "sha512:" + hashlib.sha512(b'{"small": "content"}').hexdigest()
    plain = store.put_blob(b"sha256 beside it")
    assert sorted((b.digest, b.size) for b in store.list_blobs()) == sorted(
        [(sha512, len(data)), (manifest, 20), (plain, 16)])
    assert not store.exists("sha256:" + sha512[7:71])  # another algorithm, another address
    reader = store.open_blob(sha512, len(data) - 10)
    assert reader.read(10) == data[-10:]
    reader.close()
    assert store.delete(sha512) and not store.exists(sha512)
