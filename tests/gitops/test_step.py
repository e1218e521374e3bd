"""The pipeline step wrapper: parameters, credentials by id, protocol restriction."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.credentials import CredentialStore, DockerConfig, SecretText, UsernamePassword
from dockyard.gitops import GitOpsError, run_gitops_step
from dockyard.server.app import all_migrations
from dockyard.store import Database
from tests.gitops.conftest import API, git, make_deploy_repo, show
from tests.gitops.http_git import serve_git


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    db = Database(tmp_path / "dockyard.db")
    db.migrate(all_migrations())
    return CredentialStore.open(db, tmp_path / "secrets")


def test_step_with_credentials_id_over_http(tmp_path: Path, store: CredentialStore) -> None:
    bare = make_deploy_repo(tmp_path / "repos")
    store.put(UsernamePassword("deploy-login", username="deployer", password="pw-step"))
    store.put(SecretText("a-token", text="not-for-basic"))
    lines: list[str] = []
    with serve_git(tmp_path / "repos", "deployer", "pw-step") as server:
        params = {
            "repo": f"{server.url}/{bare.name}",
            "path": "k8s",
            "image": [f"{API}=:7777777", "mysql=mysql:8.4"],
            "credentialsId": "deploy-login",
        }
        result = run_gitops_step(params, env={"GIT_COMMIT": "7" * 40}, log=lines.append, credentials=store)
        assert result.pushed
        with pytest.raises(GitOpsError, match="cannot clone"):  # a token the server does not take
            run_gitops_step(
                {**params, "credentialsId": "a-token"}, env={}, log=lines.append, credentials=store
            )
    message = git("--git-dir", str(bare), "log", "-1", "--format=%B", "main")
    assert f"Source-Commit: {'7' * 40}" in message
    assert f"{API}:7777777" in show(bare, "k8s/deployment.yaml")
    assert not any("pw-step" in line for line in lines)


def test_step_refuses_local_repos_and_bad_parameters(deploy_repo: Path, store: CredentialStore) -> None:
    store.put(DockerConfig.for_registry("harbor-auth", "h:1", "admin", "bootcamp"))
    base = {"repo": deploy_repo.as_uri(), "path": "k8s", "image": f"{API}=:1"}
    cases = [
        (base, "uses file, which is not allowed"),
        ({**base, "repo": ""}, "'repo' .* is required"),
        ({**base, "image": None}, "give image"),
        ({**base, "image": "nginx"}, "needs a tag or digest"),
        ({**base, "tag": "x"}, "unknown parameter"),
        ({**base, "credentialsId": "missing"}, "credential 'missing' not found: create it"),
        ({**base, "credentialsId": "harbor-auth"}, "must be a username/password or a secret text"),
    ]
    for params, message in cases:
        with pytest.raises(GitOpsError, match=message):
            run_gitops_step(params, env={}, log=lambda _line: None, credentials=store)
    result = run_gitops_step(
        {**base, "images": {"mysql": "mysql:9"}}, env={}, log=lambda _line: None, allowed_protocols=None
    )
    assert result.pushed and len(result.changes) == 6


def test_step_follows_the_allow_list_and_pins_the_checked_address(tmp_path: Path) -> None:
    """With an allow-list (the server's webhook list, for a repository not on this Dockyard), a
    name is resolved once, checked and pinned for git (`http.curloptResolve`); a refused address
    fails before git runs, naming the setting."""
    from dockyard.http import HostMatchList

    bare = make_deploy_repo(tmp_path / "repos")
    with serve_git(tmp_path / "repos", "deployer", "pw") as server:
        port = server.url.rsplit(":", 1)[1]
        params = {"repo": f"http://deployer:pw@localhost:{port}/{bare.name}", "path": "k8s",
                  "image": f"{API}=:8888888"}
        lines: list[str] = []
        with pytest.raises(GitOpsError, match="localhost.*DOCKYARD_WEBHOOK_ALLOWED_HOSTS='external'"):
            run_gitops_step(params, env={}, log=lines.append, allowed_hosts=HostMatchList.parse("external"))
        assert lines == []  # no git command ran
        for allowed in ("loopback", "127.0.0.0/8", "localhost"):
            result = run_gitops_step({**params, "image": f"{API}=:{allowed[:3]}"}, env={}, log=lines.append,
                                     allowed_hosts=HostMatchList.parse(allowed))
            assert result.pushed, allowed
    assert f"{API}:loc" in show(bare, "k8s/deployment.yaml")
