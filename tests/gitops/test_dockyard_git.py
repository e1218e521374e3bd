"""GitOps against Dockyard's own git server: the tutorial's notes-deploy, patched by set-image."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dockyard.gitops import GitAuth, set_image
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, REPO_ROOT, DockyardServer, require_tool
from tests.gitops.conftest import API, DEPLOY_FILES, git

ORG = "gitopstest"


def create_deploy_repo(server: DockyardServer, name: str, tmp_path: Path) -> str:
    """Create ORG/name through the Gitea-style API and push the deploy manifests to it."""
    with server.client() as client:
        if client.get(f"/api/v1/orgs/{ORG}").status_code == 404:
            assert client.post("/api/v1/orgs", json={"username": ORG}).status_code == 201
        response = client.post(
            f"/api/v1/orgs/{ORG}/repos",
            json={"name": name, "private": True, "auto_init": False, "default_branch": "main"},
        )
        assert response.status_code == 201, response.text
    seed = tmp_path / f"seed-{name}"
    git("init", "--quiet", "-b", "main", str(seed))
    for rel, content in DEPLOY_FILES.items():
        (seed / rel).parent.mkdir(parents=True, exist_ok=True)
        (seed / rel).write_text(content)
    git("add", ".", cwd=seed)
    git("commit", "--quiet", "-m", "initial manifests", cwd=seed)
    authed = server.url.replace("http://", f"http://{ADMIN_USER}:{ADMIN_PASSWORD}@")
    git("push", "--quiet", f"{authed}/{ORG}/{name}.git", "main", cwd=seed)
    return f"{server.url}/{ORG}/{name}.git"


def read_file(server: DockyardServer, repo_url: str, rel: str, tmp_path: Path) -> str:
    target = tmp_path / f"check-{threading.get_ident()}-{len(list(tmp_path.iterdir()))}"
    authed = repo_url.replace("http://", f"http://{ADMIN_USER}:{ADMIN_PASSWORD}@")
    git("clone", "--quiet", "--depth", "1", authed, str(target))
    return (target / rel).read_text()


@pytest.mark.slow
def test_cli_owner_name_form_against_dockyard(server: DockyardServer, tmp_path: Path) -> None:
    require_tool("git")
    url = create_deploy_repo(server, "gitops-deploy-cli", tmp_path)
    proc = subprocess.run(
        [
            sys.executable, "-m", "dockyard", "gitops", "--url", server.url, "--user", ADMIN_USER,
            "--password", ADMIN_PASSWORD, "set-image", "--repo", f"{ORG}/gitops-deploy-cli",
            "--path", "k8s", "--image", f"{API}=:5e6f7a8", "--source-commit", "5e6f7a8" + "0" * 33,
        ],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    output = proc.stdout + proc.stderr
    assert f":{ADMIN_PASSWORD}@" not in output and "Authorization" not in output  # "bootcamp" is a path too
    assert f"image: {API}:5e6f7a8 # bumped by CI" in read_file(server, url, "k8s/deployment.yaml", tmp_path)


@pytest.mark.slow
def test_concurrent_builds_both_land_on_dockyard(server: DockyardServer, tmp_path: Path) -> None:
    require_tool("git")
    url = create_deploy_repo(server, "gitops-deploy-race", tmp_path)
    auth = GitAuth.basic(ADMIN_USER, ADMIN_PASSWORD)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def run(images: dict[str, str], sha: str) -> None:
        barrier.wait()
        try:
            results.append(set_image(url, ".", images, auth=auth, source_commit=sha))
        except Exception as exc:  # noqa: BLE001 - asserted below
            results.append(exc)

    threads = [
        threading.Thread(target=run, args=({API: ":aaaa111"}, "a" * 40)),
        threading.Thread(target=run, args=({"bootcamp/notes-ui": ":3.1"}, "b" * 40)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(not isinstance(r, Exception) for r in results), results
    assert f"{API}:aaaa111" in read_file(server, url, "k8s/deployment.yaml", tmp_path)
    assert 'newTag: "3.1"' in read_file(server, url, "overlays/prod/kustomization.yaml", tmp_path)


@pytest.mark.slow
def test_lost_race_on_dockyard_is_retried(server: DockyardServer, tmp_path: Path) -> None:
    """Dockyard's receive-pack rejection of a stale push is recognised and retried."""
    require_tool("git")
    url = create_deploy_repo(server, "gitops-deploy-retry", tmp_path)
    other = tmp_path / "other"
    git("clone", "--quiet", url.replace("http://", f"http://{ADMIN_USER}:{ADMIN_PASSWORD}@"), str(other))
    (other / "README.md").write_text("# notes-deploy\nedited by a human\n")
    git("commit", "--quiet", "-am", "human edit", cwd=other)
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("$ git push") and sum(x.startswith("$ git push") for x in lines) == 1:
            git("push", "--quiet", "origin", "main", cwd=other)

    result = set_image(url, "k8s", {API: ":cccc333"}, auth=GitAuth.basic(ADMIN_USER, ADMIN_PASSWORD), log=log)
    assert result.attempts == 2, lines
    assert "edited by a human" in read_file(server, url, "README.md", tmp_path)
    assert f"{API}:cccc333" in read_file(server, url, "k8s/deployment.yaml", tmp_path)
