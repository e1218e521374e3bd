"""Crashes and garbage collection: nothing stored is lost, nothing partial becomes visible."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import ADMIN_PASSWORD, DockyardServer, start_server
from tests.registry.conftest import stored_blobs
from tests.registry.test_protocol import (
    OCI_MANIFEST,
    digest_of,
    image_manifest,
    push_image,
    upload_monolithic,
)


def _raw_upload_start(server: DockyardServer, name: str, digest: str, total: int) -> socket.socket:
    """Begin a monolithic upload over a raw socket and leave it unfinished."""
    host, port = server.host_port.split(":")
    sock = socket.create_connection((host, int(port)))
    import base64

    auth = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    sock.sendall(
        (
            f"POST /v2/{name}/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: {server.host_port}\r\n"
            f"Authorization: Basic {auth}\r\nContent-Length: {total}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
    )
    return sock


def test_sigkill_during_upload_loses_nothing_stored(tmp_path: Path, storage: str) -> None:
    server = start_server(tmp_path / "data", storage=storage)
    with server.client() as client:
        manifest_digest = push_image(client, "crash/app", "v1", b"precious layer")
        manifest_bytes = client.get(f"/v2/crash/app/manifests/{manifest_digest}").content
    before = stored_blobs(server)
    big = os.urandom(8 * 1024 * 1024)
    sock = _raw_upload_start(server, "crash/app", digest_of(big), len(big))
    sock.sendall(big[: len(big) // 2])
    time.sleep(0.5)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    sock.close()
    # Nothing partial is visible: the half-sent blob is not among the blobs.
    assert stored_blobs(server) == before
    restarted = start_server(server.data_dir, storage=storage)
    try:
        with restarted.client() as client:
            got = client.get("/v2/crash/app/manifests/v1")
            assert got.status_code == 200 and got.content == manifest_bytes
            for digest in before:
                blob = client.get(f"/v2/crash/app/blobs/sha256:{digest}")
                assert blob.status_code == 200 and digest_of(blob.content) == f"sha256:{digest}"
            assert client.head(f"/v2/crash/app/blobs/{digest_of(big)}").status_code == 404
    finally:
        restarted.stop()


def test_gc_keeps_referenced_and_young_blobs_and_removes_old_garbage(tmp_path: Path, storage: str) -> None:
    server = start_server(tmp_path / "data", storage=storage)
    try:
        with server.client() as client:
            push_image(client, "gc/app", "v1", b"referenced layer")
            orphan = b"uploaded but never referenced"
            assert upload_monolithic(client, "gc/app", orphan).status_code == 201
            doomed_manifest = push_image(client, "gc/app", "v2", b"layer of a deleted manifest")
            assert client.delete(f"/v2/gc/app/manifests/{doomed_manifest}").status_code == 202
        gc = [*server.command("registry"), "--storage", storage, "gc"]
        young = subprocess.run(gc, capture_output=True, text=True, check=True).stdout
        assert "deleted 0 untagged manifests and 0 blobs" in young  # all still within the grace period
        dry = subprocess.run(
            [*gc, "--grace", "0", "--dry-run"], capture_output=True, text=True, check=True
        ).stdout
        orphan_hex = digest_of(orphan).split(":")[1]
        assert f"blob {digest_of(orphan)}" in dry and "would delete" in dry
        assert orphan_hex in stored_blobs(server)
        real = subprocess.run([*gc, "--grace", "0"], capture_output=True, text=True, check=True).stdout
        assert f"blob {digest_of(orphan)}" in real
        assert f"blob {digest_of(b'layer of a deleted manifest')}" in real
        assert orphan_hex not in stored_blobs(server)
        with server.client() as client:
            got = client.get("/v2/gc/app/manifests/v1")
            assert got.status_code == 200
            for layer in json.loads(got.content)["layers"]:
                assert client.get(f"/v2/gc/app/blobs/{layer['digest']}").status_code == 200
            assert client.head(f"/v2/gc/app/blobs/{digest_of(orphan)}").status_code == 404
    finally:
        server.stop()


def test_gc_expires_old_layer_cache_entries(tmp_path: Path) -> None:
    """`gc --cache-ttl`: cache images (manifests with the cache-key annotation) created before
    the TTL go with their blobs; young ones, and ordinary images however old, stay."""
    server = start_server(tmp_path / "data")
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()

    def put(client: httpx.Client, tag: str, layer: bytes, annotations: dict[str, str]) -> None:
        for blob in (config, layer):
            assert upload_monolithic(client, "team/app/cache", blob).status_code == 201
        manifest = image_manifest(config, [layer], annotations=annotations)
        assert client.put(f"/v2/team/app/cache/manifests/{tag}", content=manifest,
                          headers={"Content-Type": OCI_MANIFEST}).status_code == 201

    try:
        with server.client() as client:
            put(client, "old", b"old cached layer", {"org.dockyard.cache.key": "k1",
                "org.opencontainers.image.created": "2020-01-01T00:00:00Z"})
            put(client, "new", b"new cached layer", {"org.dockyard.cache.key": "k2",
                "org.opencontainers.image.created": "2099-01-01T00:00:00Z"})
            put(client, "release", b"an old image, not a cache entry",
                {"org.opencontainers.image.created": "2020-01-01T00:00:00Z"})
        gc = [*server.command("registry"), "gc", "--grace", "0", "--cache-ttl", "336h"]
        dry = subprocess.run([*gc, "--dry-run"], capture_output=True, text=True, check=True)
        assert "expired cache entry team/app/cache@" in dry.stdout
        assert f"blob {digest_of(b'old cached layer')}" in dry.stdout
        with server.client() as client:
            assert client.get("/v2/team/app/cache/manifests/old").status_code == 200
        real = subprocess.run(gc, capture_output=True, text=True, check=True).stdout
        assert "deleted 1 expired cache entries" in real, real
        assert digest_of(b"old cached layer").split(":")[1] not in stored_blobs(server)
        with server.client() as client:
            assert client.get("/v2/team/app/cache/manifests/old").status_code == 404
            assert client.get("/v2/team/app/cache/manifests/new").status_code == 200
            assert client.get("/v2/team/app/cache/manifests/release").status_code == 200
        bad = subprocess.run([*gc, "--cache-ttl", "two weeks"], capture_output=True, text=True)
        assert bad.returncode == 2 and "invalid duration" in bad.stderr
    finally:
        server.stop()


def test_expired_upload_sessions_are_removed(tmp_path: Path, storage: str) -> None:
    env_ttl = {"DOCKYARD_UPLOAD_TTL": "1"}
    os.environ.update(env_ttl)
    try:
        server = start_server(tmp_path / "data", storage=storage)
    finally:
        os.environ.pop("DOCKYARD_UPLOAD_TTL")
    try:
        with server.client() as client:
            location = client.post("/v2/expiry/app/blobs/uploads/").headers["location"]
            client.patch(location, content=b"abc")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and client.get(location).status_code == 204:
                time.sleep(0.3)
            response = client.get(location)
            assert response.status_code == 404
            assert response.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    finally:
        server.stop()


def test_storage_unchanged_by_anonymous_push_attempt(server: DockyardServer) -> None:
    before = stored_blobs(server)
    response = httpx.post(
        f"{server.url}/v2/anon/app/blobs/uploads/", params={"digest": digest_of(b"x")}, content=b"x"
    )
    assert response.status_code == 401
    assert stored_blobs(server) == before
