"""The tutorial's B.3 end to end: `add-docker-registry harbor-auth`, projected with `items` like the
kubelet does, and the resulting `config.json` authenticates a real client (skopeo) to the registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.credentials import CredentialStore, DockerConfig, materialize_secret_volume
from dockyard.store import Database
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, REPO_ROOT, DockyardServer, require_tool
from tests.images import make_layout


@pytest.mark.slow
def test_harbor_auth_secret_lets_skopeo_push(server: DockyardServer, tmp_path: Path) -> None:
    require_tool("skopeo")
    cli = subprocess.run(
        [
            sys.executable, "-m", "dockyard", "credentials",
            "--url", server.url, "--user", ADMIN_USER, "--password", ADMIN_PASSWORD,
            "add-docker-registry", "harbor-auth-e2e",
            "--server", server.host_port, "--username", ADMIN_USER, "--password", ADMIN_PASSWORD,
        ],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr

    # what CI does when a pod template mounts `secretName: harbor-auth-e2e` (same DB and key file)
    db = Database(server.database())
    try:
        credential = CredentialStore.open(db, server.data_dir / "secrets").get("harbor-auth-e2e")
    finally:
        db.close()
    assert isinstance(credential, DockerConfig)
    docker_dir = tmp_path / "kaniko" / ".docker"
    materialize_secret_volume(credential, [{"key": ".dockerconfigjson", "path": "config.json"}], docker_dir)

    layout = make_layout(tmp_path / "img", layers=[{"hello.txt": b"Hello from Kaniko\n"}])
    dest = f"docker://{server.host_port}/credtest/hello-secret:v1"
    anonymous = subprocess.run(
        ["skopeo", "copy", "--dest-tls-verify=false", "--dest-no-creds", layout.ref, dest],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert anonymous.returncode != 0 and "unauthorized" in anonymous.stderr.lower(), anonymous.stderr
    pushed = subprocess.run(
        ["skopeo", "copy", "--dest-tls-verify=false", "--dest-authfile", str(docker_dir / "config.json"),
         layout.ref, dest],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    with server.client() as admin:
        tags = admin.get("/v2/credtest/hello-secret/tags/list").json()["tags"]
    assert tags == ["v1"]
