"""One suite for every blob-store backend (only the filesystem exists today)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.registry.storage import BlobStore, DigestMismatch, FilesystemBlobStore, UploadUnknown

BACKENDS: dict[str, Callable[[Path], BlobStore]] = {"filesystem": FilesystemBlobStore}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return BACKENDS[request.param](tmp_path / "registry")


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_put_and_read_small_blob(store: BlobStore) -> None:
    digest = store.put_blob(b"manifest bytes")
    assert digest == sha(b"manifest bytes")
    assert store.read_blob(digest) == b"manifest bytes"
    assert store.blob_size(digest) == len(b"manifest bytes")


def test_chunked_upload_is_invisible_until_verified(store: BlobStore) -> None:
    data = b"a" * 1000 + b"b" * 1000
    state = store.start_upload("x/y")
    store.append(state.id, data[:1000])
    assert store.upload_state(state.id).offset == 1000
    assert store.blob_size(sha(data)) is None
    store.append(state.id, data[1000:])
    assert store.finish_upload(state.id, sha(data)) == len(data)
    assert store.read_blob(sha(data)) == data
    with pytest.raises(UploadUnknown):
        store.upload_state(state.id)


def test_digest_mismatch_publishes_nothing(store: BlobStore) -> None:
    state = store.start_upload("x/y")
    store.append(state.id, b"content")
    with pytest.raises(DigestMismatch):
        store.finish_upload(state.id, sha(b"other"))
    assert store.blob_size(sha(b"content")) is None
    assert store.blob_size(sha(b"other")) is None


def test_hash_survives_losing_the_in_memory_state(store: BlobStore, tmp_path: Path) -> None:
    state = store.start_upload("x/y")
    store.append(state.id, b"part one ")
    reopened = type(store)(tmp_path / "registry")  # a restart: no running hash in memory
    reopened.append(state.id, b"part two")
    assert reopened.finish_upload(state.id, sha(b"part one part two")) == 17


def test_unknown_and_malformed_upload_ids(store: BlobStore) -> None:
    for bad in ("nope", "../../etc", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(UploadUnknown):
            store.upload_state(bad)


def test_expire_and_delete(store: BlobStore) -> None:
    state = store.start_upload("x/y")
    assert store.expire_uploads(3600) == 0
    assert store.expire_uploads(-1) == 1
    with pytest.raises(UploadUnknown):
        store.upload_state(state.id)
    digest = store.put_blob(b"gone soon")
    assert [d for d, _m in store.iter_blobs()] == [digest]
    assert store.delete_blob(digest) and not store.delete_blob(digest)


def test_invalid_digest_paths_are_refused(store: BlobStore) -> None:
    assert store.blob_size("sha256:../../etc/passwd") is None
    with pytest.raises(ValueError):
        store.blob_path("sha256:../../x")
