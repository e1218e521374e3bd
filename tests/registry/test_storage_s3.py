"""What only the S3 backend has: its SigV4 client, configuration errors, and failures reported
as such, against the real S3 server of tests/s3server.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from dockyard.registry import StorageError, open_blob_storage
from dockyard.registry.storage_s3 import PART_SIZE, S3BlobStorage
from dockyard.registry.storage_s3_client import S3Config
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, start_server
from tests.s3server import BUCKET, S3Server


def test_listing_follows_continuation_tokens(s3_server: S3Server) -> None:
    client = s3_server.client(s3_server.fresh_url())
    keys = [f"many/{name}" for name in ("a", "b/c", "d e", "f+g", "h=i")]
    for key in keys:
        client.put(key, key.encode())
    assert sorted(info.key for info in client.list_objects("many/", page_size=2)) == sorted(keys)
    assert [client.get(key) for key in keys] == [key.encode() for key in keys]


def test_wrong_secret_is_refused_by_the_server(s3_server: S3Server, tmp_path: Path) -> None:
    environ = {**s3_server.environ(), "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    with pytest.raises(StorageError, match="403"):
        open_blob_storage(s3_server.fresh_url(), tmp_path, environ)


def test_configuration_errors_name_the_fix(s3_server: S3Server, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        open_blob_storage("s3://bucket", tmp_path, {})
    with pytest.raises(StorageError, match=r"use file:// .* or s3://BUCKET\[/prefix\]"):
        open_blob_storage("gs://bucket", tmp_path, {})
    with pytest.raises(StorageError, match="404"):
        open_blob_storage("s3://no-such-bucket", tmp_path, s3_server.environ())
    config = S3Config.from_url(f"s3://{BUCKET}/a/b/", {"AWS_ACCESS_KEY_ID": "k",
                                                       "AWS_SECRET_ACCESS_KEY": "s"})
    assert (config.bucket, config.prefix) == (BUCKET, "a/b/")
    assert config.endpoint == "https://s3.us-east-1.amazonaws.com"


def test_dockyard_up_refuses_unreachable_storage_with_a_clear_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.run(
        [sys.executable, "-m", "dockyard", "up", "--data-dir", str(tmp_path / "data"),
         "--storage", "s3://bucket/prefix"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 2
    assert "--storage s3://bucket/prefix" in proc.stderr and "AWS_SECRET_ACCESS_KEY" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_storage_failure_is_a_503_not_a_crash(s3_environment: S3Server, tmp_path: Path) -> None:
    """With the bucket gone the registry answers UNAVAILABLE and logs the cause."""
    url = s3_environment.fresh_url()
    server = start_server(tmp_path / "data", storage=url)
    try:
        with httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30) as client:
            start = client.post("/v2/outage/app/blobs/uploads/")
            assert start.status_code == 202
            location = start.headers["location"]
            # The session's state disappears behind the registry's back: reads now fail on S3's
            # side in a way the registry cannot put right (a missing tail object).
            s3 = s3_environment.client(url)
            assert client.patch(location, content=b"x" * 10).status_code == 202
            for info in s3.list_objects("uploads/"):
                if "/tail-" in info.key:
                    s3.delete(info.key)
            response = client.patch(location, content=b"more")
            assert response.status_code == 503, response.text
            assert response.json()["errors"][0]["code"] == "UNAVAILABLE"
        assert "storage failed during PATCH" in server.log()
    finally:
        server.stop()


def test_expiry_aborts_multipart_uploads_no_session_names(s3_server: S3Server, tmp_path: Path) -> None:
    """A server killed mid-PATCH has sent parts but not saved the session's state."""
    store = open_blob_storage(s3_server.fresh_url(), tmp_path, s3_server.environ())
    assert isinstance(store, S3BlobStorage)
    state = store.start_upload("x/y")
    writer = store.open_upload(state.id)
    writer.write(os.urandom(PART_SIZE))  # one part sent; then the process dies before close()
    assert len(list(store.client.list_multipart("uploads/"))) == 1
    assert store.upload_state(state.id).offset == 0  # the saved state never learnt of the part
    assert store.expire_uploads(3600) == 0 and len(list(store.client.list_multipart("uploads/"))) == 1
    assert store.expire_uploads(-1) == 1
    assert list(store.client.list_multipart("uploads/")) == []
    assert list(store.client.list_objects("uploads/")) == []


def test_slow_down_answers_are_retried(tmp_path: Path) -> None:
    """S3 answers 503 SlowDown under load; the client waits and asks again, then gives up."""
    answers = [503, 503, 200]
    seen: list[str] = []

    class Flaky(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
            seen.append(self.headers["authorization"].split(" ", 1)[0])
            self.send_response(answers.pop(0) if answers else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    environ = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
               "AWS_ENDPOINT_URL": f"http://127.0.0.1:{httpd.server_port}"}
    try:
        open_blob_storage("s3://bucket", tmp_path, environ)  # two 503s, then the bucket is there
        assert seen == ["AWS4-HMAC-SHA256"] * 3
        with pytest.raises(StorageError, match="503"):
            open_blob_storage("s3://bucket", tmp_path, environ)  # 503 for good
        assert len(seen) == 3 + 4
    finally:
        httpd.shutdown()
        httpd.server_close()
