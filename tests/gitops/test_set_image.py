"""set_image against real git remotes: file:// and smart HTTP (git http-backend), races included."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dockyard.gitops import GitAuth, GitOpsError, ImageNotFound, set_image
from tests.conftest import REPO_ROOT, require_tool
from tests.gitops.conftest import API, DEPLOY_FILES, git, make_deploy_repo, show
from tests.gitops.http_git import serve_git

SHA = "3f1c2d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"


@pytest.fixture(autouse=True)
def _git() -> None:
    require_tool("git")


def test_file_url_commit_and_push(deploy_repo: Path) -> None:
    lines: list[str] = []
    result = set_image(
        deploy_repo.as_uri(), "k8s", {API: f"{API}:3f1c2d9"}, source_commit=SHA, log=lines.append
    )
    assert result.pushed and result.attempts == 1 and result.branch == "main"
    assert git("--git-dir", str(deploy_repo), "rev-parse", "main") == result.commit
    assert f"image: {API}:3f1c2d9 # bumped by CI" in show(deploy_repo, "k8s/deployment.yaml")
    author = git("--git-dir", str(deploy_repo), "log", "-1", "--format=%an <%ae>", "main")
    assert author == "Dockyard <dockyard@localhost>"
    message = git("--git-dir", str(deploy_repo), "log", "-1", "--format=%B", "main")
    assert "(source 3f1c2d9e8b7a)" in message.splitlines()[0]
    assert f"Source-Commit: {SHA}" in message
    assert "Deployment/notes-api container api" in message
    changed = git("--git-dir", str(deploy_repo), "show", "--name-only", "--format=", "main").split()
    assert sorted(changed) == ["k8s/deployment.yaml", "k8s/workers.yml"]
    assert show(deploy_repo, "README.md") == DEPLOY_FILES["README.md"]
    assert any("pushed" in line for line in lines)


def test_nothing_to_change_makes_no_commit(deploy_repo: Path) -> None:
    before = git("--git-dir", str(deploy_repo), "rev-parse", "main")
    result = set_image(str(deploy_repo), "k8s", {API: f"{API}:0000000"})
    assert result.commit is None and not result.pushed and len(result.unchanged) == 5
    assert git("--git-dir", str(deploy_repo), "rev-parse", "main") == before


def test_unknown_image_is_an_error_and_nothing_is_pushed(deploy_repo: Path) -> None:
    before = git("--git-dir", str(deploy_repo), "rev-parse", "main")
    with pytest.raises(ImageNotFound, match="images found"):
        set_image(deploy_repo.as_uri(), "k8s", {"bootcamp/notes-api": ":v1"})
    assert git("--git-dir", str(deploy_repo), "rev-parse", "main") == before


def test_concurrent_set_image_both_land(deploy_repo: Path) -> None:
    barrier = threading.Barrier(3)
    results: dict[str, object] = {}

    def run(name: str, images: dict[str, str]) -> None:
        barrier.wait()
        try:
            results[name] = set_image(deploy_repo.as_uri(), ".", images, source_commit=name * 8)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[name] = exc

    jobs = {
        "a": {API: ":aaaaaaa"},
        "b": {"mysql": "mysql:8.4"},
        "c": {"bootcamp/notes-ui": ":2.0"},
    }
    threads = [threading.Thread(target=run, args=item) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(not isinstance(r, Exception) for r in results.values()), results
    log = git("--git-dir", str(deploy_repo), "log", "--format=%B", "main")
    for name in jobs:
        assert f"Source-Commit: {name * 8}" in log
    assert f"{API}:aaaaaaa" in show(deploy_repo, "k8s/deployment.yaml")
    assert "image: mysql:8.4   # not ours" in show(deploy_repo, "k8s/workers.yml")
    assert 'newTag: "2.0"' in show(deploy_repo, "overlays/prod/kustomization.yaml")
    assert max(r.attempts for r in results.values()) >= 1  # type: ignore[attr-defined]


def test_retry_reapplies_on_top_of_a_concurrent_commit(deploy_repo: Path, tmp_path: Path) -> None:
    """Another commit lands between our commit and our push: we refetch, re-apply and push again."""
    other = tmp_path / "other"
    git("clone", "--quiet", str(deploy_repo), str(other))
    (other / "README.md").write_text("# notes-deploy\nchanged meanwhile\n")
    git("commit", "--quiet", "-am", "someone else", cwd=other)
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("$ git push") and len([x for x in lines if x.startswith("$ git push")]) == 1:
            git("push", "--quiet", "origin", "main", cwd=other)  # wins the race

    result = set_image(deploy_repo.as_uri(), "k8s", {API: ":bbbbbbb"}, log=log)
    assert result.attempts == 2, lines
    assert any("moved while we worked" in line for line in lines)
    assert "changed meanwhile" in show(deploy_repo, "README.md")
    assert f"{API}:bbbbbbb" in show(deploy_repo, "k8s/deployment.yaml")
    parent_subject = git("--git-dir", str(deploy_repo), "log", "-1", "--format=%s", "main~1")
    assert parent_subject == "someone else"


def test_gives_up_after_max_attempts(deploy_repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git("clone", "--quiet", str(deploy_repo), str(other))

    pushes: list[str] = []

    def log(line: str) -> None:
        if line.startswith("$ git push"):
            pushes.append(line)
            (other / "README.md").write_text(f"push {len(pushes)}\n")
            git("commit", "--quiet", "-am", "always first", cwd=other)
            git("push", "--quiet", "origin", "main", cwd=other)

    with pytest.raises(GitOpsError, match="gave up after 2 attempts"):
        set_image(deploy_repo.as_uri(), "k8s", {API: ":ccccccc"}, log=log, max_attempts=2)


def test_rejected_push_reports_the_reason(deploy_repo: Path) -> None:
    hook = deploy_repo / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is protected: open a pull request' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(GitOpsError, match="main is protected"):
        set_image(deploy_repo.as_uri(), "k8s", {API: ":ccccccc"}, max_attempts=2)


def test_smart_http_with_basic_auth_and_no_secret_in_logs(tmp_path: Path) -> None:
    bare = make_deploy_repo(tmp_path)
    with serve_git(tmp_path, "deployer", "s3cret-pass") as server:
        url = f"{server.url}/{bare.name}"
        with pytest.raises(GitOpsError, match="cannot clone"):
            set_image(url, "k8s", {API: ":ddddddd"}, auth=GitAuth.basic("deployer", "wrong"))
        lines: list[str] = []
        result = set_image(
            url,
            "k8s",
            {API: ":ddddddd"},
            auth=GitAuth.basic("deployer", "s3cret-pass"),
            log=lines.append,
            allowed_protocols=("http", "https"),
        )
        assert result.pushed
        # the tutorial's style: credentials in the URL; they are moved into a header, never logged
        cred_url = url.replace("http://", "http://deployer:s3cret-pass@")
        result2 = set_image(cred_url, "k8s", {API: ":eeeeeee"}, log=lines.append)
        assert result2.pushed and "s3cret-pass" not in result2.repo
    assert f"{API}:eeeeeee" in show(bare, "k8s/deployment.yaml")
    assert not any("s3cret-pass" in line for line in lines)
    assert any(path.endswith("git-receive-pack") for path in server.seen_urls)


def test_two_threads_over_http_both_land(tmp_path: Path) -> None:
    bare = make_deploy_repo(tmp_path)
    with serve_git(tmp_path, "deployer", "pw") as server:
        url = f"{server.url}/{bare.name}"
        barrier = threading.Barrier(2)
        errors: list[Exception] = []

        def run(tag: str, name: str) -> None:
            barrier.wait()
            try:
                set_image(
                    url, ".", {name: f":{tag}"}, auth=GitAuth.basic("deployer", "pw"), source_commit=tag
                )
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [
            threading.Thread(target=run, args=("1111111", API)),
            threading.Thread(target=run, args=("2222222", "nginx")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors
    assert f"{API}:1111111" in show(bare, "k8s/deployment.yaml")
    assert 'newTag: "2222222"' in show(
        bare, "overlays/prod/kustomization.yaml"
    ) or "newTag: '2222222'" in show(bare, "overlays/prod/kustomization.yaml")


@pytest.mark.slow
def test_cli_set_image(deploy_repo: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dockyard",
            "gitops",
            "set-image",
            "--repo",
            deploy_repo.as_uri(),
            "--path",
            "k8s",
            "--image",
            f"{API}={API}:9a9a9a9",
            "--source-commit",
            SHA,
            "--message",
            "deploy notes-api",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "pushed" in proc.stdout
    subject = git("--git-dir", str(deploy_repo), "log", "-1", "--format=%s", "main")
    assert subject == "deploy notes-api (source 3f1c2d9e8b7a)"
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "dockyard",
            "gitops",
            "set-image",
            "--repo",
            deploy_repo.as_uri(),
            "--image",
            "nginx",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert bad.returncode == 1 and "needs a tag or digest" in bad.stderr


@pytest.mark.slow
def test_cli_over_http_uses_explicit_credentials_only(tmp_path: Path) -> None:
    bare = make_deploy_repo(tmp_path)
    with serve_git(tmp_path, "deployer", "pw-http") as server:
        url = f"{server.url}/{bare.name}"
        base = [sys.executable, "-m", "dockyard", "gitops", "set-image", "--repo", url, "--path", "k8s"]
        # DOCKYARD_* belong to the Dockyard server: never sent to another host
        env = {**os.environ, "DOCKYARD_USER": "deployer", "DOCKYARD_PASSWORD": "pw-http"}
        proc = subprocess.run(
            [*base, "--image", f"{API}=:1234567"], capture_output=True, text=True, env=env, check=False
        )
        assert proc.returncode == 1 and "cannot clone" in proc.stderr
        proc = subprocess.run(
            [*base, "--image", f"{API}=:1234567", "--user", "deployer", "--password", "pw-http"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert "pw-http" not in proc.stdout + proc.stderr
    assert f"{API}:1234567" in show(bare, "k8s/deployment.yaml")


def test_allowed_protocols_refuse_local_repos(deploy_repo: Path) -> None:
    for url in (deploy_repo.as_uri(), str(deploy_repo)):
        with pytest.raises(GitOpsError, match="uses file, which is not allowed here; use a http or https"):
            set_image(url, "k8s", {API: ":1"}, allowed_protocols=("http", "https"))


def test_bad_references_are_gitops_errors(deploy_repo: Path) -> None:
    with pytest.raises(GitOpsError, match="invalid tag"):
        set_image(deploy_repo.as_uri(), "k8s", {API: ":no spaces"})
    with pytest.raises(GitOpsError, match="given twice"):
        set_image(deploy_repo.as_uri(), "k8s", {"nginx": ":1", "docker.io/library/nginx": ":2"})
