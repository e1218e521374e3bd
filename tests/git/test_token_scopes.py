"""API token scopes are enforced everywhere a token is accepted (Gitea's scope names):
git over HTTP and the repository API need read:/write:repository, the registry and its Harbor
API read:/write:package, public-only hides private repositories; `all` and passwords are
unrestricted; unknown scopes are refused when the token is made."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.auth import scopes
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer
from tests.git.conftest import Account, Git, client, create_repo, create_user, repo_url, unique
from tests.images import make_layout
from tests.registry.conftest import push, skopeo


def make_token(server: DockyardServer, account: Account, *wanted: str) -> str:
    with client(server, account) as c:
        response = c.post(f"/api/v1/users/{account.username}/tokens",
                          json={"name": unique("t"), "scopes": list(wanted)})
    assert response.status_code == 201, response.text
    return str(response.json()["sha1"])


def test_scope_grammar() -> None:
    assert scopes.normalize(["write:repository", "read:package"]) == \
        "read:package,write:repository"
    assert scopes.normalize([]) == "all"
    with pytest.raises(scopes.ScopeError, match="write:repo"):
        scopes.normalize(["write:repo"])
    stored = scopes.parse("read:repository")
    assert scopes.allows(stored, "repository", write=False)
    assert not scopes.allows(stored, "repository", write=True)
    assert scopes.allows(scopes.parse("write:package"), "package", write=False)
    assert scopes.parse("all") is None


def test_unknown_scope_is_refused(server: DockyardServer) -> None:
    account = create_user(server)
    with client(server, account) as c:
        response = c.post(f"/api/v1/users/{account.username}/tokens",
                          json={"name": "bad", "scopes": ["write:everything"]})
    assert response.status_code == 422 and "write:everything" in response.text


def test_git_and_api_follow_repository_scopes(server: DockyardServer, git: Git, work: Path
                                              ) -> None:
    owner = create_user(server)
    name = create_repo(server, owner, private=True)["full_name"]
    reader = make_token(server, owner, "read:repository")
    writer = make_token(server, owner, "write:repository")
    packages = make_token(server, owner, "write:package")

    checkout = work / "c"
    git.run("clone", "-q", repo_url(server, name, owner.username, reader), str(checkout))
    git.commit_file(checkout, "x.txt", "x\n", "with a read-only token")
    refused = git.run("push", repo_url(server, name, owner.username, reader), "main",
                      cwd=checkout, check=False)
    assert refused.returncode != 0
    assert "required scope(s): [write:repository]" in refused.stderr
    git.run("push", "-q", repo_url(server, name, owner.username, writer), "main", cwd=checkout)
    no_repo_scope = git.run("ls-remote", repo_url(server, name, owner.username, packages),
                            check=False)
    assert no_repo_scope.returncode != 0

    with server.client(user=None) as c:
        token_header = {"Authorization": f"token {reader}"}
        assert c.get(f"/api/v1/repos/{name}", headers=token_header).status_code == 200
        created = c.post("/api/v1/user/repos", headers=token_header,
                         json={"name": unique("nope")})
        assert created.status_code == 403
        assert "[write:repository]" in created.json()["message"]
        assert c.get("/api/v1/user", headers=token_header).status_code == 403  # read:user
        assert c.post("/api/v1/user/repos", headers={"Authorization": f"token {writer}"},
                      json={"name": unique("yes")}).status_code == 201


def test_public_only_hides_private_repositories(server: DockyardServer, git: Git) -> None:
    owner = create_user(server)
    private = create_repo(server, owner, private=True)["full_name"]
    public = create_repo(server, owner)["full_name"]
    token = make_token(server, owner, "public-only", "read:repository")
    with server.client(user=None) as c:
        header = {"Authorization": f"token {token}"}
        assert c.get(f"/api/v1/repos/{public}", headers=header).status_code == 200
        assert c.get(f"/api/v1/repos/{private}", headers=header).status_code == 404
        listed = {r["full_name"] for r in c.get("/api/v1/user/repos", headers=header).json()}
        assert public in listed and private not in listed
        for name, expected in ((public, [public]), (private, [])):
            found = c.get("/api/v1/repos/search", headers=header,
                          params={"q": name.split("/")[1]}).json()["data"]
            assert [r["full_name"] for r in found] == expected
    assert git.run("ls-remote", repo_url(server, private, owner.username, token),
                   check=False).returncode != 0


def test_registry_follows_package_scopes(server: DockyardServer, tmp_path: Path) -> None:
    admin = Account(ADMIN_USER, ADMIN_PASSWORD)
    layout = make_layout(tmp_path / "img", layers=[{"scoped.txt": b"scoped\n"}])
    push(layout.ref, server, "scoped/app:1")
    reader = make_token(server, admin, "read:package")
    writer = make_token(server, admin, "write:package")
    repo_only = make_token(server, admin, "write:repository")
    ref = f"docker://{server.host_port}/scoped/app:1"
    skopeo("inspect", "--tls-verify=false", "--creds", f"{ADMIN_USER}:{reader}", ref)
    refused = skopeo("copy", "--dest-tls-verify=false", "--dest-creds",
                     f"{ADMIN_USER}:{reader}", layout.ref,
                     f"docker://{server.host_port}/scoped/app:2", check=False)
    assert refused.returncode != 0
    push(layout.ref, server, "scoped/app:3", creds=f"{ADMIN_USER}:{writer}")
    assert skopeo("inspect", "--tls-verify=false", "--creds", f"{ADMIN_USER}:{repo_only}", ref,
                  check=False).returncode != 0
    with server.client(user=None) as c:
        header = {"Authorization": f"Basic {_basic(ADMIN_USER, reader)}"}
        assert c.get("/api/v2.0/projects?name=scoped", headers=header).status_code == 200
        denied = c.post("/api/v2.0/projects", headers=header,
                        json={"project_name": unique("p"), "metadata": {"public": "false"}})
        assert denied.status_code == 403 and "[write:package]" in denied.text


def _basic(user: str, secret: str) -> str:
    import base64

    return base64.b64encode(f"{user}:{secret}".encode()).decode()
