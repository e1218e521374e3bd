"""Acceptance 4: invalid names, path traversal, garbage packs and bodies cut off mid-push get
clear errors and leave the repository unchanged (`git fsck` clean)."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import DockyardServer, require_tool
from tests.git.conftest import Account, Git, client, create_repo, repo_url, unique

ZERO = "0" * 40


def _bare(server: DockyardServer, full_name: str) -> Path:
    owner, name = full_name.split("/")
    return server.data_dir / "git" / owner.lower() / f"{name.lower()}.git"


def _fsck_clean(git: Git, bare: Path) -> None:
    result = git.run("--git-dir", str(bare), "fsck", "--strict", "--no-dangling", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list((bare / "objects").glob("incoming-*")), "a quarantine directory was left"


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".hidden", "x.git", "bad name", "",
                                  "a" * 101, "info"])
def test_invalid_repo_names_are_refused(server: DockyardServer, alice: Account,
                                        name: str) -> None:
    with client(server, alice) as c:
        response = c.post("/api/v1/user/repos", json={"name": name})
    assert response.status_code == 422
    assert "name" in response.json()["message"]


@pytest.mark.parametrize("owner", ["api", "v2", "job", "service", "healthz", "createItem",
                                   "crumbIssuer", "queue", "metrics", "a..b", "-x"])
def test_reserved_and_invalid_owner_names(server: DockyardServer, alice: Account,
                                          owner: str) -> None:
    with client(server, alice) as c:
        org = c.post("/api/v1/orgs", json={"username": owner})
    with server.client() as admin:
        user = admin.post("/api/v1/admin/users", json={"username": owner, "password": "p"})
    assert org.status_code == 422 and user.status_code == 422
    assert "reserved" in org.json()["message"] or "invalid" in org.json()["message"]


@pytest.mark.parametrize("path", [
    "/../../etc/passwd.git/info/refs?service=git-upload-pack",
    "/%2e%2e/%2e%2e.git/info/refs?service=git-upload-pack",
    "/..%2f..%2fetc/x.git/info/refs?service=git-upload-pack",
    "/admin/..%2F..%2Fsecrets.git/info/refs?service=git-upload-pack",
    "/admin/.git/info/refs?service=git-upload-pack",
    "/api/x.git/info/refs?service=git-upload-pack",
])
def test_path_traversal_in_git_urls(server: DockyardServer, path: str) -> None:
    require_tool("curl")
    result = subprocess.run(
        ["curl", "-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}",
         "-u", "admin:bootcamp", server.url + path], capture_output=True, text=True)
    assert result.stdout in ("400", "404"), (path, result.stdout)


def test_invalid_name_message_names_the_rule(server: DockyardServer) -> None:
    response = httpx.get(f"{server.url}/x..y/repo.git/info/refs?service=git-upload-pack")
    assert response.status_code == 400 and "invalid owner name" in response.text


def _receive_pack_request(git: Git, checkout: Path, old: str, new: str) -> bytes:
    command = f"{old} {new} refs/heads/main\0 report-status\n".encode()
    pack = subprocess.run(["git", "pack-objects", "--stdout", "--revs", "-q"],
                          input=f"{new}\n^{old}\n".encode(), cwd=checkout, env=git.env,
                          capture_output=True, check=True).stdout
    return f"{len(command) + 4:04x}".encode() + command + b"0000" + pack


def _prepare(server: DockyardServer, git: Git, work: Path, owner: Account) -> tuple[str, Path,
                                                                                     str, str]:
    name = create_repo(server, owner)["full_name"]
    checkout = work / "c"
    git.run("clone", "-q", repo_url(server, name), str(checkout))
    old = git.out("rev-parse", "HEAD", cwd=checkout)
    (checkout / "big.bin").write_bytes(os.urandom(300_000))
    git.run("add", "big.bin", cwd=checkout)
    git.run("commit", "-q", "-m", "big", cwd=checkout)
    return name, checkout, old, git.out("rev-parse", "HEAD", cwd=checkout)


def _auth(owner: Account) -> str:
    return "Basic " + base64.b64encode(f"{owner.username}:{owner.password}".encode()).decode()


def test_garbage_pack_is_rejected_and_repo_unchanged(server: DockyardServer, git: Git,
                                                     work: Path, alice: Account) -> None:
    name, _checkout, old, new = _prepare(server, git, work, alice)
    command = f"{old} {new} refs/heads/main\0 report-status\n".encode()
    body = f"{len(command) + 4:04x}".encode() + command + b"0000" + b"PACK\0\0\0\2garbage" * 50
    response = httpx.post(
        f"{server.url}/{name}.git/git-receive-pack", content=body,
        headers={"Content-Type": "application/x-git-receive-pack-request",
                 "Authorization": _auth(alice)}, timeout=30)
    assert b"unpack" in response.content and b"ok refs/heads/main" not in response.content
    bare = _bare(server, name)
    assert git.out("--git-dir", str(bare), "rev-parse", "refs/heads/main") == old
    _fsck_clean(git, bare)


def test_body_cut_off_mid_push_changes_nothing(server: DockyardServer, git: Git, work: Path,
                                               alice: Account) -> None:
    name, checkout, old, new = _prepare(server, git, work, alice)
    request = _receive_pack_request(git, checkout, old, new)
    assert len(request) > 100_000
    host, port = server.host_port.split(":")
    with socket.create_connection((host, int(port))) as sock:
        head = (f"POST /{name}.git/git-receive-pack HTTP/1.1\r\nHost: {server.host_port}\r\n"
                f"Authorization: {_auth(alice)}\r\n"
                "Content-Type: application/x-git-receive-pack-request\r\n"
                f"Content-Length: {len(request)}\r\n\r\n").encode()
        sock.sendall(head + request[: len(request) // 2])
        time.sleep(0.3)
    bare = _bare(server, name)
    deadline = time.monotonic() + 10
    while list((bare / "objects").glob("incoming-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert git.out("--git-dir", str(bare), "rev-parse", "refs/heads/main") == old
    _fsck_clean(git, bare)
    # the repository still takes a normal push
    git.run("push", "-q", repo_url(server, name, alice.username, alice.password), "main",
            cwd=checkout)
    assert git.out("--git-dir", str(bare), "rev-parse", "refs/heads/main") == new
    _fsck_clean(git, bare)


def test_wrong_content_type_and_unknown_service(server: DockyardServer, alice: Account) -> None:
    name = create_repo(server, alice)["full_name"]
    wrong = httpx.post(f"{server.url}/{name}.git/git-upload-pack", content=b"0000",
                       headers={"Content-Type": "text/plain"})
    assert wrong.status_code == 415 and "application/x-git-upload-pack-request" in wrong.text
    dumb = httpx.get(f"{server.url}/{name}.git/info/refs")
    assert dumb.status_code == 403 and "smart HTTP" in dumb.text
    other = httpx.get(f"{server.url}/{name}.git/info/refs?service=git-upload-archive")
    assert other.status_code == 403
    missing = httpx.get(f"{server.url}/api/v1/repos/{alice.username}/{unique('no')}")
    assert missing.status_code == 404 and "message" in missing.json()
