"""The one atomic-write helper: whole or nothing, private by default, temp files never left."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from dockyard.atomicfile import AtomicFile, atomic_write_bytes, atomic_writer, publish_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_is_private_by_default_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert _mode(target) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["file"]


def test_mode_is_set_whatever_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "hook"
    atomic_write_bytes(target, b"#!/bin/sh\n", mode=0o755)
    assert _mode(target) == 0o755


def test_an_error_inside_leaves_the_old_content_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "blob"
    target.write_bytes(b"old")
    with pytest.raises(ValueError), atomic_writer(target) as f:
        f.write(b"half of the new")
        raise ValueError("digest mismatch")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob"]


def test_long_lived_writer_commit_and_cancel(tmp_path: Path) -> None:
    kept, dropped = AtomicFile(tmp_path / "kept"), AtomicFile(tmp_path / "dropped")
    kept.file.write(b"layer")
    dropped.file.write(b"aborted")
    assert not (tmp_path / "kept").exists()
    kept.commit()
    dropped.cancel()
    dropped.cancel()  # idempotent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
    assert (tmp_path / "kept").read_bytes() == b"layer"


def test_publish_file_renames_a_finished_upload(tmp_path: Path) -> None:
    upload = tmp_path / "upload-data"
    upload.write_bytes(b"bytes")
    upload.chmod(0o644)
    publish_file(upload, tmp_path / "blob")
    assert not upload.exists()
    assert (tmp_path / "blob").read_bytes() == b"bytes" and _mode(tmp_path / "blob") == 0o600


def test_a_progress_write_skips_only_the_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """durable=False (a running build's trace): still whole-or-nothing and private, no fsync."""
    import os

    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    target = tmp_path / "trace.json"
    atomic_write_bytes(target, b"progress", durable=False)
    assert target.read_bytes() == b"progress" and _mode(target) == 0o600 and not synced
    assert [p.name for p in tmp_path.iterdir()] == ["trace.json"]
    atomic_write_bytes(target, b"final")
    assert target.read_bytes() == b"final" and len(synced) == 1
