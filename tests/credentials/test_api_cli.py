"""Credentials through a real `dockyard up`: the JSON API with httpx and the `dockyard credentials` CLI."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.store import Database
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, REPO_ROOT, DockyardServer

SECRET = "Harbor-Pa55-9c1e"


def dockyard(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**clean, **(env or {})},
        input=stdin,
        check=False,
    )


@pytest.mark.slow
def test_cli_add_docker_registry_like_kubectl(server: DockyardServer) -> None:
    proc = dockyard(
        "credentials", "--url", server.url, "--user", ADMIN_USER, "--password", ADMIN_PASSWORD,
        "add-docker-registry", "harbor-auth-cli", "--server", "10.0.24.28:30002",
        "--username", "admin", "--password", SECRET,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "stored credential harbor-auth-cli (docker_config)" in proc.stdout
    env = {"DOCKYARD_URL": server.url, "DOCKYARD_USER": ADMIN_USER, "DOCKYARD_PASSWORD": ADMIN_PASSWORD}
    listing = dockyard("credentials", "list", env=env)
    assert listing.returncode == 0, listing.stderr
    assert "harbor-auth-cli\tdocker_config\tadmin@10.0.24.28:30002" in listing.stdout
    as_json = dockyard("credentials", "list", "--json", env=env)
    assert SECRET not in as_json.stdout and SECRET not in listing.stdout
    entry = next(i for i in json.loads(as_json.stdout) if i["id"] == "harbor-auth-cli")
    assert entry["servers"] == {"10.0.24.28:30002": "admin"}
    again = dockyard(
        "credentials", "add-docker-registry", "harbor-auth-cli", "--server", "h:1", "--username", "a",
        "--password", "x-secret", env=env,
    )  # fmt: skip
    assert again.returncode == 1 and "already exists" in again.stderr and "--replace" in again.stderr
    assert dockyard("credentials", "delete", "harbor-auth-cli", env=env).returncode == 0
    missing = dockyard("credentials", "delete", "harbor-auth-cli", env=env)
    assert missing.returncode == 1 and "not found" in missing.stderr


@pytest.mark.slow
def test_cli_other_kinds_and_token_auth(server: DockyardServer, tmp_path: Path) -> None:
    token = subprocess.run(
        [*server.command("user"), "token", ADMIN_USER,
         "--name", "cred-cli"],
        capture_output=True, text=True, check=True, cwd=REPO_ROOT,
    ).stdout.strip()  # fmt: skip
    env = {"DOCKYARD_URL": server.url, "DOCKYARD_TOKEN": token}
    added = dockyard(
        "credentials", "add-secret-text", "gitea-token-cli", "--stdin", env=env, stdin="t0ken-value\n"
    )
    assert added.returncode == 0, added.stderr
    key = tmp_path / "kubeconfig"
    key.write_bytes(b"apiVersion: v1\nclusters: []\n")
    proc = dockyard("credentials", "add-file", "kubeconfig-cli", "--file", str(key), env=env)
    assert proc.returncode == 0, proc.stderr
    proc = dockyard(
        "credentials", "add-username-password", "git-cli", "--username", "bootcamp", "--password-stdin",
        "--token", token, "--url", server.url, stdin="pw-from-stdin\n",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    listing = dockyard("credentials", "list", "--url", server.url, "--token", token).stdout
    assert "gitea-token-cli\tsecret_text" in listing
    assert "kubeconfig-cli\tsecret_file\tkubeconfig (28 bytes)" in listing
    assert "git-cli\tusername_password\tbootcamp" in listing
    assert "t0ken-value" not in listing and "pw-from-stdin" not in listing


def test_cli_without_credentials_says_how_to_log_in(server: DockyardServer) -> None:
    proc = dockyard("credentials", "list", "--url", server.url)
    assert proc.returncode == 1 and "HTTP 401" in proc.stderr and "--user" in proc.stderr
    down = dockyard("credentials", "list", "--url", "http://127.0.0.1:9", "--user", "a", "--password", "b")
    assert down.returncode == 1 and "cannot reach Dockyard at http://127.0.0.1:9" in down.stderr


def test_api_system_credentials_are_admin_only_and_never_return_secrets(server: DockyardServer) -> None:
    server.add_user("cred-dev", "dev-password")
    with server.client() as admin:
        created = admin.post(
            "/api/ci/credentials",
            json={"id": "api-up", "kind": "username_password", "username": "bob", "password": SECRET},
        )
        assert created.status_code == 201, created.text
        assert SECRET not in created.text
        assert admin.get("/api/ci/credentials/api-up").json()["username"] == "bob"
        assert SECRET not in admin.get("/api/ci/credentials").text
        replaced = admin.put(
            "/api/ci/credentials/api-up", json={"kind": "secret_text", "text": "now-a-text-secret"}
        )
        assert replaced.status_code == 200 and replaced.json()["kind"] == "secret_text"
        content = base64.b64encode(b"file-secret").decode()
        made = admin.put(
            "/api/ci/credentials/api-file",
            json={"kind": "secret_file", "filename": "id_rsa", "content_base64": content},
        )
        assert made.status_code == 201 and made.json()["size"] == 11
        bad = admin.post("/api/ci/credentials", json={"id": "x1", "kind": "docker_config", "server": "h:1"})
        assert bad.status_code == 400 and "username" in bad.json()["error"]
        kind = admin.post("/api/ci/credentials", json={"id": "x2", "kind": "ssh"})
        assert kind.status_code == 400 and "unknown credential kind" in kind.json()["error"]
        form = admin.post("/api/ci/credentials", content=b"id=x3", headers={"Content-Type": "text/plain"})
        assert form.status_code == 415
        assert admin.delete("/api/ci/credentials/api-file").status_code == 204
        assert admin.get("/api/ci/credentials/api-file").status_code == 404
    with server.client(user=None) as anonymous:
        response = anonymous.get("/api/ci/credentials")
        assert response.status_code == 401 and "Basic" in response.headers["www-authenticate"]
    with server.client("cred-dev", "dev-password") as developer:
        response = developer.get("/api/ci/credentials")  # only their own namespace's: none
        assert response.status_code == 200 and response.json() == {"credentials": []}
        assert developer.get("/api/ci/credentials/api-up").status_code == 404  # unseen, as if absent
        assert developer.delete("/api/ci/credentials/api-up").status_code == 404
        body = {"id": "dev-x", "kind": "secret_text", "text": "t"}
        system = developer.post("/api/ci/credentials", json=body)
        assert system.status_code == 403 and "not an administrator" in system.json()["error"]
    with server.client(ADMIN_USER, "wrong") as wrong:
        assert wrong.get("/api/ci/credentials").status_code == 401


@pytest.mark.parametrize("needle", [SECRET, "now-a-text-secret"])
def test_server_database_does_not_contain_secrets(server: DockyardServer, needle: str) -> None:
    with server.client() as admin:
        admin.put("/api/ci/credentials/at-rest", json={"kind": "secret_text", "text": needle})
    if server.database_url:  # PostgreSQL: every column of every stored credential
        raw = repr([tuple(r) for r in Database(server.database()).rows("SELECT * FROM credentials")]).encode()
    else:
        raw = b"".join(p.read_bytes() for p in server.data_dir.glob("dockyard.db*"))
    assert b"at-rest" in raw  # the row is there (main file or WAL), only its secret is sealed
    assert needle.encode() not in raw
