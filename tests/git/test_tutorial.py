"""Acceptance 1: the tutorial's section A.3 against Dockyard, changing only host and port."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import DockyardServer, require_tool
from tests.git.conftest import Git, repo_url

FIXTURE = Path("/work/shared/fixtures/tutorial/commands.sh")


def test_tutorial_creates_repos_that_clone_and_take_pushes(
    server: DockyardServer, git: Git, work: Path
) -> None:
    require_tool("curl")
    with server.client() as admin:
        created = admin.post("/api/v1/admin/users", json={
            "username": "bootcamp", "password": "bootcamp", "email": "bootcamp@example.com"})
    assert created.status_code == 201, created.text
    # The tutorial's loop, verbatim except the address.
    script = f"""
for repo in notes-app notes-deploy; do
curl -sf -u bootcamp:bootcamp "http://{server.host_port}/api/v1/user/repos" \\
-X POST -H 'Content-Type: application/json' \\
-d "{{\\"name\\":\\"$repo\\",\\"private\\":false,\\"auto_init\\":true,\\"default_branch\\":\\"main\\"}}"
done
"""
    if FIXTURE.exists():
        assert 'auto_init\\":true,\\"default_branch\\":\\"main\\"' in FIXTURE.read_text()
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert '"full_name":"bootcamp/notes-app"' in result.stdout
    assert '"full_name":"bootcamp/notes-deploy"' in result.stdout

    with server.client("bootcamp", "bootcamp") as c:
        token = c.post("/api/v1/users/bootcamp/tokens", json={"name": "ci"}).json()["sha1"]

    for name in ("notes-app", "notes-deploy"):
        checkout = work / name
        git.run("clone", "-q", f"{server.url}/bootcamp/{name}.git", str(checkout))
        assert git.out("symbolic-ref", "--short", "HEAD", cwd=checkout) == "main"
        assert (checkout / "README.md").read_text().startswith(f"# {name}")
        # push with the password, then with the API token as the basic-auth secret
        first = git.commit_file(checkout, "one.txt", "1\n", "one")
        git.run("push", "-q", repo_url(server, f"bootcamp/{name}", "bootcamp", "bootcamp"),
                "main", cwd=checkout)
        second = git.commit_file(checkout, "two.txt", "2\n", "two")
        git.run("push", "-q", repo_url(server, f"bootcamp/{name}", "bootcamp", token), "main",
                cwd=checkout)
        remote = git.out("ls-remote", f"{server.url}/bootcamp/{name}.git", "refs/heads/main")
        assert remote.split()[0] == second != first
