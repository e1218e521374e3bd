"""`podman login` is a login for Dockyard's own registry commands: a real podman writes its
auth.json (root's /run/containers/0/auth.json, or $REGISTRY_AUTH_FILE), then `dockyard image
copy` pulls and pushes a private image with no other credentials (refused, 401, without)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool
from tests.registry.test_protocol import (
    OCI_MANIFEST,
    digest_of,
    image_manifest,
    upload_monolithic,
)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A scratch home and runtime dir: no docker config, nothing of the machine's own logins."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_CONFIG_HOME")}
    return {**env, "HOME": str(home), "XDG_RUNTIME_DIR": str(tmp_path / "run"), **extra}


def _copy_command(server: DockyardServer, src: str, dst: str) -> list[str]:
    return [sys.executable, "-m", "dockyard", "image", "copy", "--insecure-registry",
            server.host_port, f"docker://{server.host_port}/{src}",
            f"docker://{server.host_port}/{dst}"]


def _copy(server: DockyardServer, env: dict[str, str], src: str, dst: str,
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_copy_command(server, src, dst), env=env, capture_output=True,
                          text=True, timeout=120)


def _private_image(server: DockyardServer) -> str:
    project = f"podlogin-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30) as c:
        assert c.post("/api/v2.0/projects", json={
            "project_name": project, "metadata": {"public": "false"}}).status_code == 201
        layer = _one_file_tar(b"pushed before podman login\n")
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
            "type": "layers", "diff_ids": [digest_of(layer)]}}).encode()
        for blob in (config, layer):
            assert upload_monolithic(c, f"{project}/app", blob).status_code == 201
        assert c.put(f"/v2/{project}/app/manifests/v1", content=image_manifest(config, [layer]),
                     headers={"Content-Type": OCI_MANIFEST}).status_code == 201
    return project


def _one_file_tar(content: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def test_root_podman_login_without_a_session(server: DockyardServer, tmp_path: Path) -> None:
    """Root in a shell without XDG_RUNTIME_DIR: podman writes /run/containers/0/auth.json. The
    test runs in its own mount namespace with a tmpfs on /run/containers, so the machine's own
    logins are neither read nor touched."""
    require_tool("podman")
    require_tool("unshare")
    if os.getuid() != 0:
        pytest.skip("needs root: podman's /run/containers/<uid> default and unshare -m")
    project = _private_image(server)
    env = _env(tmp_path)
    del env["XDG_RUNTIME_DIR"]

    refused = _copy(server, env, f"{project}/app:v1", f"{project}/copy:v1")
    assert refused.returncode != 0 and "401" in refused.stderr + refused.stdout, refused.stderr

    script = (
        'mount -t tmpfs tmpfs /run/containers\n'
        'printf %s "$DY_PASSWORD" | podman login --tls-verify=false -u "$DY_USER" '
        '--password-stdin "$DY_REGISTRY" >/dev/null\n'
        'grep -q "$DY_REGISTRY" "/run/containers/$(id -u)/auth.json"\n'
        'exec "$@"\n')
    copied = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script, "sh",
         *_copy_command(server, f"{project}/app:v1", f"{project}/copy:v1")],
        env={**env, "DY_USER": ADMIN_USER, "DY_PASSWORD": ADMIN_PASSWORD,
             "DY_REGISTRY": server.host_port},
        capture_output=True, text=True, timeout=180)
    assert copied.returncode == 0, copied.stderr
    with httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD)) as c:
        assert c.get(f"/v2/{project}/copy/manifests/v1", headers={
            "Accept": OCI_MANIFEST}).status_code == 200


def test_registry_auth_file_from_podman(server: DockyardServer, tmp_path: Path) -> None:
    require_tool("podman")
    project = _private_image(server)
    auth_file = tmp_path / "ci-auth.json"
    env = _env(tmp_path, REGISTRY_AUTH_FILE=str(auth_file))
    login = subprocess.run(
        ["podman", "login", "--tls-verify=false", "-u", ADMIN_USER, "--password-stdin",
         server.host_port], input=ADMIN_PASSWORD, env=env, capture_output=True, text=True,
        timeout=60)
    assert login.returncode == 0, login.stderr
    assert auth_file.exists()
    copied = _copy(server, env, f"{project}/app:v1", f"{project}/copy:v1")
    assert copied.returncode == 0, copied.stderr
