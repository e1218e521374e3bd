"""Repository pages at Gitea's paths against a real `dockyard up`: the create form with
auto-init, README rendered with safe HTML, tree, file, raw, commits, diff, branches, status
badges; private repositories answer 404 to others; git's smart HTTP keeps its paths."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.ci.conftest import GIT_ENV, unique
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool
from tests.ui.helpers import browser, post_form, sign_in

HOSTILE_README = """# Notes

Some *text* with a [good link](https://example.com/docs).

<script>alert('readme-xss')</script>
<img src=x onerror="alert('img-xss')">
[bad](javascript:alert('link-xss'))
"""


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env=GIT_ENV).stdout


def test_create_push_and_browse(server: DockyardServer, tmp_path: Path) -> None:
    require_tool("git")
    c = sign_in(server)
    name = unique("ui-notes")
    r = post_form(c, "/repo/create", "/repo/create",
                  {"owner": ADMIN_USER, "name": name, "description": "Notes app", "auto_init": "on",
                   "default_branch": "main"})
    assert r.status_code == 303 and r.headers["location"] == f"/{ADMIN_USER}/{name}"
    home = c.get(f"/{ADMIN_USER}/{name}")
    assert home.status_code == 200 and "<h1>" in home.text and "README.md" in home.text
    assert f"{server.url}/{ADMIN_USER}/{name}.git" in home.text  # clone URL
    # same options as the API: a duplicate name is refused with the API's message
    dup = post_form(c, "/repo/create", "/repo/create", {"owner": ADMIN_USER, "name": name})
    assert dup.status_code == 409 and "already exists" in dup.text

    work = tmp_path / "work"
    url = f"http://{ADMIN_USER}:{ADMIN_PASSWORD}@{server.host_port}/{ADMIN_USER}/{name}.git"
    _git("clone", "-q", url, str(work), cwd=tmp_path)  # smart HTTP is not shadowed by pages
    (work / "README.md").write_text(HOSTILE_README)
    (work / "src").mkdir()
    (work / "src" / "app.py").write_text("print('hello from notes')\n")
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", "Add the app\n\nWith a body line.", cwd=work)
    _git("checkout", "-q", "-b", "feature/x", cwd=work)
    _git("push", "-q", "origin", "main", "feature/x", cwd=work)
    sha = _git("rev-parse", "main", cwd=work).strip()

    home = c.get(f"/{ADMIN_USER}/{name}").text
    assert "<em>text</em>" in home and 'href="https://example.com/docs"' in home
    for bad in ("<script>alert", "<img src=x", 'href="javascript:'):
        assert bad not in home, bad
    assert "&lt;script&gt;" in home  # shown as text, not run

    tree = c.get(f"/{ADMIN_USER}/{name}/src/branch/main/src")
    assert tree.status_code == 200 and "app.py" in tree.text
    file = c.get(f"/{ADMIN_USER}/{name}/src/branch/main/src/app.py")
    assert file.status_code == 200 and "print(&#39;hello from notes&#39;)" in file.text
    slashed = c.get(f"/{ADMIN_USER}/{name}/src/branch/feature/x/src/app.py")  # a branch with a slash
    assert slashed.status_code == 200 and "hello from notes" in slashed.text
    raw = c.get(f"/{ADMIN_USER}/{name}/raw/branch/main/README.md")
    assert raw.text == HOSTILE_README and "sandbox" in raw.headers["content-security-policy"]
    assert c.get(f"/{ADMIN_USER}/{name}/src/branch/main/nope.txt").status_code == 404
    assert c.get(f"/{ADMIN_USER}/{name}/src/branch/no-such-branch").status_code == 404

    commits = c.get(f"/{ADMIN_USER}/{name}/commits/branch/main")
    assert commits.status_code == 200 and "Add the app" in commits.text and "Initial commit" in commits.text
    # a commit status links to its build
    status = httpx.post(f"{server.url}/api/v1/repos/{ADMIN_USER}/{name}/statuses/{sha}",
                        auth=(ADMIN_USER, ADMIN_PASSWORD),
                        json={"state": "success", "context": "ci/dockyard",
                              "target_url": f"{server.url}/{ADMIN_USER}/{name}/branches"})
    assert status.status_code == 201, status.text
    commit = c.get(f"/{ADMIN_USER}/{name}/commit/{sha}")
    assert commit.status_code == 200 and "With a body line." in commit.text
    assert 'class="d-add">+print(&#39;hello from notes&#39;)' in commit.text
    assert f'href="{server.url}/{ADMIN_USER}/{name}/branches"' in commit.text
    assert "ci/dockyard: success" in commit.text
    assert c.get(f"/{ADMIN_USER}/{name}/commit/{'0' * 40}").status_code == 404
    assert c.get(f"/{ADMIN_USER}/{name}/commit/--output=x").status_code == 404
    branches = c.get(f"/{ADMIN_USER}/{name}/branches")
    assert "feature/x" in branches.text and "default" in branches.text
    assert name in c.get(f"/{ADMIN_USER}").text
    # a clone URL opened in a browser lands on the repository
    assert c.get(f"/{ADMIN_USER}/{name}.git").headers["location"] == f"/{ADMIN_USER}/{name}"
    info = httpx.get(f"{server.url}/{ADMIN_USER}/{name}.git/info/refs?service=git-upload-pack",
                     auth=(ADMIN_USER, ADMIN_PASSWORD))
    assert info.headers["content-type"] == "application/x-git-upload-pack-advertisement"
    # the API keeps /api/v1
    api = httpx.get(f"{server.url}/api/v1/repos/{ADMIN_USER}/{name}", auth=(ADMIN_USER, ADMIN_PASSWORD))
    assert api.json()["html_url"] == f"{server.url}/{ADMIN_USER}/{name}"


def test_empty_repository_pages_show_how_to_push(server: DockyardServer) -> None:
    c = sign_in(server)
    name = unique("ui-empty")
    created = post_form(c, "/repo/create", "/repo/create", {"owner": ADMIN_USER, "name": name})
    assert created.status_code == 303
    for path in ("", "/commits/branch/main", "/src/branch/main", "/branches"):
        r = c.get(f"/{ADMIN_USER}/{name}{path}")
        assert r.status_code == 200, path
    assert "git push -u origin main" in c.get(f"/{ADMIN_USER}/{name}/commits/branch/main").text


def test_private_repository_pages_are_404_to_others(server: DockyardServer) -> None:
    c = sign_in(server)
    name = unique("ui-secret")
    r = post_form(c, "/repo/create", "/repo/create",
                  {"owner": ADMIN_USER, "name": name, "private": "on", "auto_init": "on"})
    assert r.status_code == 303
    assert c.get(f"/{ADMIN_USER}/{name}").status_code == 200
    server.add_user("ui-other", "other-password-1")
    other = sign_in(server, "ui-other", "other-password-1")
    for client in (browser(server), other):
        for path in ("", "/src/branch/main", "/src/branch/main/README.md", "/raw/branch/main/README.md",
                     "/commits/branch/main", "/branches"):
            assert client.get(f"/{ADMIN_USER}/{name}{path}").status_code == 404, path
        assert name not in client.get("/").text and name not in client.get(f"/{ADMIN_USER}").text
    # creating under someone else's name is refused by the same check as the API
    r = post_form(other, "/repo/create", "/repo/create", {"owner": ADMIN_USER, "name": unique("x")})
    assert r.status_code == 403
    # and creating needs a signed-in user and a form token
    assert browser(server).get("/repo/create").status_code == 303
    assert c.post("/repo/create", data={"owner": ADMIN_USER, "name": unique("y")}).status_code == 403


def test_hostile_refs_and_paths_are_404_not_500(server: DockyardServer) -> None:
    c = sign_in(server)
    name = unique("ui-hostile")
    assert post_form(c, "/repo/create", "/repo/create",
                     {"owner": ADMIN_USER, "name": name, "auto_init": "on"}).status_code == 303
    base = f"/{ADMIN_USER}/{name}"
    for path in ("/src/branch/main/%00", "/src/commit/%00", "/raw/branch/main/%00",
                 "/commits/branch/main/%00", "/commit/%00", "/src/branch/main/..%2F..%2Fetc",
                 "/src/branch/main/:(glob)*",
                 "/src/commit/-x", "/src/tag/--help", "/src/commit/HEAD~1", "/src/commit/" + "a" * 300,
                 "/raw/branch/main/:(exclude)x", "/commit/" + "a" * 40):
        assert c.get(base + path).status_code == 404, path
    assert c.get(base).status_code == 200  # and the connection is still fine
