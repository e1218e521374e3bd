"""Context hashing reuses the last build's hashes where the cache dir survives (same pod),
rereads what changed, and never trusts a file changed within its timestamp tick."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.builder.cache import ContentHashes, files_digest


def test_a_just_written_file_is_not_remembered(tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "a.c").write_text("int a;\n")
    record = tmp_path / "hashes.json"
    hashes = ContentHashes(record)
    assert files_digest(context, [context], None, hashes) == files_digest(context, [context])
    hashes.save()
    assert not record.exists()  # changed within RACY_SECONDS: hashed again next time


def test_remembered_entries_skip_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dockyard.builder.cache as cache

    context = tmp_path / "ctx"
    context.mkdir()
    (context / "a.c").write_text("int a;\n")
    monkeypatch.setattr(cache, "RACY_SECONDS", -1.0)  # everything old enough
    record = tmp_path / "hashes.json"
    hashes = ContentHashes(record)
    honest = files_digest(context, [context], None, hashes)
    hashes.save()
    data = json.loads(record.read_text())
    entry = data[str(context / "a.c")]
    entry[-1] = "0" * 64  # a remembered hash is used without reading the file
    record.write_text(json.dumps(data))
    assert files_digest(context, [context], None, ContentHashes(record)) != honest
    (context / "a.c").write_text("int b;\n")  # changed: size/mtime/ctime differ, reread
    changed = files_digest(context, [context], None, ContentHashes(record))
    assert changed == files_digest(context, [context]) != honest
