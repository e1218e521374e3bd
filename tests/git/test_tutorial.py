"""Acceptance 1: the tutorial's section A.3 against Dockyard, changing only host and port."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import DockyardServer, require_tool
from tests.git.conftest import Git, repo_url

FIXTURES = [
    Path(__file__).resolve().parents[1] / "fixtures" / "tutorial" / "commands.sh",
    Path("/work/shared/fixtures/tutorial/commands.sh"),
]
# The same lines, for a checkout without the shared fixtures.
_A3 = (
    'for repo in notes-app notes-deploy; do\n'
    'curl -u bootcamp:bootcamp "http://10.0.24.28:30022/api/v1/user/repos" \\\n'
    "-X POST -H 'Content-Type: application/json' \\\n"
    '-d "{\\"name\\":\\"$repo\\",\\"private\\":false,\\"auto_init\\":true,'
    '\\"default_branch\\":\\"main\\"}"\n'
    "done\n"
)


def _tutorial_a3() -> str:
    for path in FIXTURES:
        if path.exists():
            text = path.read_text()
            start = text.index("for repo in notes-app notes-deploy; do")
            return text[start: text.index("done", start) + 4] + "\n"
    return _A3


def test_tutorial_creates_repos_that_clone_and_take_pushes(
    server: DockyardServer, git: Git, work: Path
) -> None:
    require_tool("curl")
    with server.client() as admin:
        created = admin.post("/api/v1/admin/users", json={
            "username": "bootcamp", "password": "bootcamp", "email": "bootcamp@example.com"})
    assert created.status_code == 201, created.text
    # The tutorial's loop (fixtures/tutorial/commands.sh, section A.3), only the address changed.
    script = _tutorial_a3().replace("10.0.24.28:30022", server.host_port).replace(
        "curl -u", "curl -sf -u")
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
