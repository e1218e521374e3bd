"""Real clients against a real server: skopeo and podman push and pull, the tutorial's check."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, DockyardServer, require_tool
from tests.images import make_layout
from tests.registry.conftest import push, skopeo


def raw_manifest_digest(ref: str, *extra: str) -> str:
    raw = skopeo("inspect", "--raw", *extra, ref).stdout.encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def test_skopeo_oci_layout_round_trip_keeps_digests(server: DockyardServer, tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "in", layers=[{"hello.txt": b"hello\n"}, {"b.txt": b"b" * 5000}])
    push(layout.ref, server, "roundtrip/oci:v1")
    out = tmp_path / "out"
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        f"admin:{ADMIN_PASSWORD}",
        f"docker://{server.host_port}/roundtrip/oci:v1",
        f"oci:{out}:v1",
    )
    assert raw_manifest_digest(f"oci:{out}:v1") == layout.manifest_digest
    remote = raw_manifest_digest(
        f"docker://{server.host_port}/roundtrip/oci:v1",
        "--tls-verify=false",
        "--creds",
        f"admin:{ADMIN_PASSWORD}",
    )
    assert remote == layout.manifest_digest
    for blob in (layout.path / "blobs" / "sha256").iterdir():
        assert (out / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()


def test_skopeo_docker_archive_round_trip(server: DockyardServer, tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "in", layers=[{"a": b"docker format\n"}])
    archive = tmp_path / "image.tar"
    skopeo("copy", layout.ref, f"docker-archive:{archive}:roundtrip/docker:v1")
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"admin:{ADMIN_PASSWORD}",
        f"docker-archive:{archive}",
        f"docker://{server.host_port}/roundtrip/docker:v1",
    )
    creds = ("--tls-verify=false", "--creds", f"admin:{ADMIN_PASSWORD}")
    raw = skopeo("inspect", "--raw", *creds, f"docker://{server.host_port}/roundtrip/docker:v1").stdout
    assert json.loads(raw)["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    out = tmp_path / "out.tar"
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        f"admin:{ADMIN_PASSWORD}",
        f"docker://{server.host_port}/roundtrip/docker:v1",
        f"docker-archive:{out}",
    )
    pushed = raw_manifest_digest(f"docker://{server.host_port}/roundtrip/docker:v1", *creds)
    head = httpx.head(
        f"{server.url}/v2/roundtrip/docker/manifests/v1",
        auth=("admin", ADMIN_PASSWORD),
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert head.headers["docker-content-digest"] == pushed
    assert head.headers["content-type"] == "application/vnd.docker.distribution.manifest.v2+json"


def test_tutorial_harbor_check_one_digest_two_tags(server: DockyardServer, tmp_path: Path) -> None:
    require_tool("jq")
    layout = make_layout(tmp_path / "img", layers=[{"hello.txt": b"Hello from Kaniko\n"}])
    push(layout.ref, server, "bootcamp/hello-kaniko:3f2a9c1")
    push(layout.ref, server, "bootcamp/hello-kaniko:latest")
    # The tutorial's C.5 command with only host and port changed.
    command = (
        f"curl -s -u admin:bootcamp http://{server.host_port}/api/v2.0/projects/bootcamp/repositories"
        " | jq -c '.[] | {name, artifact_count}'"
    )
    out = subprocess.run(command, shell=True, capture_output=True, text=True, check=True).stdout
    assert out.strip() == '{"name":"bootcamp/hello-kaniko","artifact_count":1}'


@pytest.mark.slow
def test_podman_push_and_pull_with_creds(server: DockyardServer, tmp_path: Path) -> None:
    require_tool("podman")
    layout = make_layout(tmp_path / "img", layers=[{"bin/file": b"podman\n"}])
    local = "localhost/dockyard-test/podman:v1"
    subprocess.run(["podman", "tag", _podman_id(layout.ref), local], check=True)
    remote = f"{server.host_port}/podman/test:v1"
    try:
        subprocess.run(
            [
                "podman",
                "push",
                "--tls-verify=false",
                "--creds",
                f"admin:{ADMIN_PASSWORD}",
                local,
                f"docker://{remote}",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        bad = subprocess.run(
            ["podman", "pull", "--tls-verify=false", "--creds", "admin:wrong", remote],
            capture_output=True,
            text=True,
        )
        assert bad.returncode != 0
        good = subprocess.run(
            ["podman", "pull", "--tls-verify=false", "--creds", f"admin:{ADMIN_PASSWORD}", remote],
            capture_output=True,
            text=True,
        )
        assert good.returncode == 0, good.stderr
    finally:
        subprocess.run(["podman", "rmi", "-f", local, remote], capture_output=True)


def _podman_id(ref: str) -> str:
    out = subprocess.run(["podman", "pull", "-q", ref], check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def test_private_project_refuses_anonymous_and_wrong_password(server: DockyardServer, tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "img", layers=[{"secret": b"private\n"}])
    push(layout.ref, server, "privateproj/app:v1")
    target = f"docker://{server.host_port}/privateproj/app:v1"
    anonymous = skopeo("inspect", "--tls-verify=false", "--no-creds", target, check=False)
    assert anonymous.returncode != 0
    assert "unauthorized" in anonymous.stderr.lower() or "authentication required" in anonymous.stderr.lower()
    wrong = skopeo("inspect", "--tls-verify=false", "--creds", "admin:nope", target, check=False)
    assert wrong.returncode != 0
    ok = skopeo("inspect", "--tls-verify=false", "--creds", f"admin:{ADMIN_PASSWORD}", target)
    assert json.loads(ok.stdout)["Digest"] == layout.manifest_digest


def test_public_project_allows_anonymous_pull(
    server: DockyardServer, tmp_path: Path, admin: httpx.Client
) -> None:
    response = admin.post(
        "/api/v2.0/projects", json={"project_name": "openproj", "metadata": {"public": "true"}}
    )
    assert response.status_code == 201
    layout = make_layout(tmp_path / "img", layers=[{"pub": b"public\n"}])
    push(layout.ref, server, "openproj/app:v1")
    out = tmp_path / "out"
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--src-no-creds",
        f"docker://{server.host_port}/openproj/app:v1",
        f"oci:{out}:v1",
    )
    assert raw_manifest_digest(f"oci:{out}:v1") == layout.manifest_digest
    anonymous_push = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-no-creds",
        layout.ref,
        f"docker://{server.host_port}/openproj/app:v2",
        check=False,
    )
    assert anonymous_push.returncode != 0


def test_non_admin_cannot_create_project_by_push(
    server: DockyardServer, tmp_path: Path, admin: httpx.Client
) -> None:
    server.add_user("dev1", "devpass")
    layout = make_layout(tmp_path / "img", layers=[{"x": b"x"}])
    result = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "dev1:devpass",
        layout.ref,
        f"docker://{server.host_port}/newproject/app:v1",
        check=False,
    )
    assert result.returncode != 0
    assert "denied" in result.stderr.lower() or "403" in result.stderr
    assert admin.get("/api/v2.0/projects/newproject").status_code == 404
