"""A lost or replaced credentials key file is a clear error, never a 500 (issue 10).

Against a real `dockyard up`: a credential and a CI job (both sealed with DATA/secrets/
credentials.key) are stored through the APIs; with the key file deleted, or replaced by another
key, the next `dockyard up` refuses to start naming the file, what depends on it and what to do,
and writes no new key; with the original restored it starts and CI answers. A row sealed with
another key under a running server answers 503 with the reason.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ci.conftest import inline_job_xml
from tests.conftest import DockyardServer, start_server


@pytest.fixture
def sealed_server(tmp_path: Path) -> Iterator[DockyardServer]:
    srv = start_server(tmp_path / "data")
    with srv.client() as admin:
        created = admin.post("/api/ci/credentials", json={"id": "keep", "kind": "secret_text", "text": "t0p"})
        assert created.status_code == 201, created.text
        crumb = admin.get("/crumbIssuer/api/json").json()
        job = admin.post("/createItem", params={"name": "sealed-job"}, headers={
            crumb["crumbRequestField"]: crumb["crumb"], "Content-Type": "application/xml"},
            content=inline_job_xml("pipeline { agent any\n stages { stage('s') { steps { echo 'x' } } } }"))
        assert job.status_code == 200, job.text
    yield srv
    srv.stop()


def refused_start(data_dir: Path) -> str:
    with pytest.raises(RuntimeError, match="exited early") as exited:
        start_server(data_dir)
    return str(exited.value)


def test_lost_or_replaced_key_file_refuses_start_and_the_original_works(
    sealed_server: DockyardServer,
) -> None:
    data = sealed_server.data_dir
    key = data / "secrets" / "credentials.key"
    original = key.read_bytes()
    assert sealed_server.stop() == 0

    key.unlink()  # lost
    log = refused_start(data)
    assert f"the credentials key file {key} is missing" in log
    assert "1 credential(s), 1 CI job config(s)" in log and f"restore {key} from a backup" in log
    assert "Traceback" not in log
    assert not key.exists()  # no new key written over the sealed rows

    key.write_bytes(bytes(32))  # replaced by another key
    log = refused_start(data)
    assert f"the credentials key file {key} is not the key that sealed 1 credential(s)" in log
    assert "the file's is" in log and "Traceback" not in log

    key.write_bytes(original)  # restored: starts, and CI reads its sealed rows
    again = start_server(data)
    try:
        with again.client() as admin:
            assert admin.get("/api/ci/credentials/keep").json()["id"] == "keep"
            assert admin.get("/job/sealed-job/config.xml").status_code == 200
            assert "sealed-job" in admin.get("/api/json").text
    finally:
        again.stop()


def test_a_row_sealed_with_another_key_under_a_running_server_is_503(sealed_server: DockyardServer) -> None:
    if sealed_server.database_url:
        pytest.skip("edits the SQLite file directly")
    with sqlite3.connect(sealed_server.data_dir / "dockyard.db") as db:  # as a restored backup would
        db.execute("UPDATE ci_jobs SET key_fingerprint = 'feedfacefeedface'")
    with sealed_server.client() as admin:
        for path in ("/job/sealed-job/config.xml", "/api/json", "/api/ci/jobs"):
            r = admin.get(path)
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert "different key than DATA/secrets/credentials.key" in r.text
            assert "restart Dockyard" in r.text
