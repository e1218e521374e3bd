"""oras-py (PyPI `oras`), the ORAS Python SDK, pushing and pulling artifacts against a real server.

oras-py keeps one bearer token per client, sends it again after a 401 and asks for a new one only
after a 403: its first token is scoped to what the first request needed (pull), so its push works
only because the registry answers the same token sent twice for a scope it lacks with 403
insufficient_scope and a challenge naming the scope (access.ScopeRefusals).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer

oras_provider = pytest.importorskip("oras.provider")


def oras_client(server: DockyardServer, tmp_path: Path, user: str, password: str):  # noqa: ANN201
    client = oras_provider.Registry(hostname=server.host_port, insecure=True)
    # login stores the credentials in the docker config it is given (kept out of $HOME)
    client.login(username=user, password=password, hostname=server.host_port,
                 config_path=str(tmp_path / "docker-config.json"))
    return client


def artifact(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "src" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def test_oras_push_pull_then_push_again(server: DockyardServer, tmp_path: Path) -> None:
    client = oras_client(server, tmp_path, ADMIN_USER, ADMIN_PASSWORD)
    first = artifact(tmp_path, "notes.txt", b"first artifact\n")
    target = f"{server.host_port}/oras/artifacts:v1"
    pushed = client.push(files=[str(first)], target=target, disable_path_validation=True)
    assert pushed.status_code == 201, pushed.text

    out = tmp_path / "out"
    files = client.pull(target=target, outdir=str(out))
    assert [Path(f).read_bytes() for f in files] == [b"first artifact\n"]

    # the same client, now holding a token from the pull, pushes a second artifact: the
    # pull-scoped token gets 401, then 403 insufficient_scope, and oras-py fetches a push token
    second = artifact(tmp_path, "more.txt", b"second artifact\n")
    target2 = f"{server.host_port}/oras/other:v2"
    again = client.push(files=[str(second)], target=target2, disable_path_validation=True)
    assert again.status_code == 201, again.text
    with server.client() as admin:
        assert admin.get("/v2/oras/other/tags/list").json()["tags"] == ["v2"]
        assert admin.get("/v2/oras/artifacts/tags/list").json()["tags"] == ["v1"]


def test_oras_user_pulls_public_artifact_but_cannot_push(server: DockyardServer, tmp_path: Path) -> None:
    """`library` is public: another user pulls with oras-py, and the push is refused."""
    admin = oras_client(server, tmp_path, ADMIN_USER, ADMIN_PASSWORD)
    target = f"{server.host_port}/library/oras-public:v1"
    pushed = admin.push(files=[str(artifact(tmp_path, "pub.txt", b"public\n"))], target=target,
                        disable_path_validation=True)
    assert pushed.status_code == 201, pushed.text
    server.add_user("orasreader", "orasreader-pw")
    reader = oras_client(server, tmp_path, "orasreader", "orasreader-pw")
    files = reader.pull(target=target, outdir=str(tmp_path / "pulled"))
    assert [Path(f).read_bytes() for f in files] == [b"public\n"]
    try:  # oras-py raises on the refused upload session (or returns the response)
        response = reader.push(files=[str(artifact(tmp_path, "evil.txt", b"no\n"))],
                               target=f"{server.host_port}/library/oras-public:v2",
                               disable_path_validation=True)
        assert response.status_code == 403, response.text
    except ValueError as exc:
        assert "DENIED" in str(exc) and "may not push" in str(exc)
    tags = httpx.get(f"{server.url}/v2/library/oras-public/tags/list", auth=(ADMIN_USER, ADMIN_PASSWORD))
    assert tags.json()["tags"] == ["v1"]
