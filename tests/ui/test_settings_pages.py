"""Repository webhook settings in the browser (Gitea's /settings/hooks): add, the delivery log
after "Test delivery" to a real receiver, delete; admins only, others 403/404."""

from __future__ import annotations

import http.server
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ci.conftest import unique
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, start_server
from tests.ui.helpers import browser, post_form, sign_in


@pytest.fixture
def loopback_server(tmp_path: Path) -> Iterator[DockyardServer]:
    srv = start_server(tmp_path / "data", env={"DOCKYARD_WEBHOOK_ALLOWED_HOSTS": "loopback"})
    yield srv
    srv.stop()


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    bodies: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            bodies.append(self.rfile.read(int(self.headers.get("content-length", 0))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"received-by-test")

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", bodies
    httpd.shutdown()


def test_webhook_settings_test_delivery_and_log(loopback_server: DockyardServer,
                                               receiver: tuple[str, list[bytes]]) -> None:
    server, (url, bodies) = loopback_server, receiver
    api = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    repo = unique("ui-hooks")
    api.post("/api/v1/user/repos", json={"name": repo, "auto_init": True}).raise_for_status()
    c = sign_in(server)
    settings = f"/{ADMIN_USER}/{repo}/settings/hooks"
    assert "Settings" in c.get(f"/{ADMIN_USER}/{repo}").text
    r = post_form(c, settings, settings, {"url": url, "content_type": "json", "active": "on",
                                          "secret": "hook-secret-9931", "branch_filter": "*"})
    assert r.status_code == 303
    hooks = api.get(f"/api/v1/repos/{ADMIN_USER}/{repo}/hooks").json()
    assert [h["config"]["url"] for h in hooks] == [url]
    hook_page = f"{settings}/{hooks[0]['id']}"
    page = c.get(hook_page)
    assert page.status_code == 200 and "set (never shown)" in page.text
    assert "hook-secret-9931" not in page.text
    r = post_form(c, hook_page, hook_page + "/test")
    assert r.status_code == 303
    deadline = time.monotonic() + 30
    while "received-by-test" not in (html := c.get(hook_page).text):
        assert time.monotonic() < deadline, "the test delivery never reached the log"
        time.sleep(0.2)
    assert bodies and b'"ref":"refs/heads/main"' in bodies[0].replace(b" ", b"")
    assert ">200<" in html

    bad = post_form(c, settings, settings, {"url": "ftp://example.com/x", "content_type": "json"})
    assert bad.status_code == 422
    # others: a reader gets 403, a stranger to a private repository 404
    server.add_user("ui-hook-reader", "reader-password-1")
    reader = sign_in(server, "ui-hook-reader", "reader-password-1")
    assert reader.get(settings).status_code == 403
    assert post_form(reader, "/", hook_page + "/delete").status_code == 403
    assert browser(server).get(settings).status_code == 303
    r = post_form(c, hook_page, hook_page + "/delete")
    assert r.status_code == 303 and api.get(f"/api/v1/repos/{ADMIN_USER}/{repo}/hooks").json() == []


def test_collaborators_grant_access_to_a_private_repository(server: DockyardServer) -> None:
    api = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    repo = unique("ui-collab")
    api.post("/api/v1/user/repos", json={"name": repo, "private": True, "auto_init": True}).raise_for_status()
    server.add_user("ui-collab-user", "collab-password-1")
    friend = sign_in(server, "ui-collab-user", "collab-password-1")
    assert friend.get(f"/{ADMIN_USER}/{repo}").status_code == 404
    c = sign_in(server)
    page = f"/{ADMIN_USER}/{repo}/settings/collaboration"
    r = post_form(c, page, page, {"username": "ui-collab-user", "permission": "read"})
    assert r.status_code == 303 and "ui-collab-user" in c.get(page).text
    members = api.get(f"/api/v1/repos/{ADMIN_USER}/{repo}/collaborators").json()
    assert [m["login"] for m in members] == ["ui-collab-user"]
    assert friend.get(f"/{ADMIN_USER}/{repo}").status_code == 200  # the same check as the API
    assert friend.get(page).status_code == 403  # read is not admin
    missing = post_form(c, page, page, {"username": "no-such-user-ui", "permission": "read"})
    assert missing.status_code == 422
    r = post_form(c, page, page + "/delete", {"username": "ui-collab-user"})
    assert r.status_code == 303 and friend.get(f"/{ADMIN_USER}/{repo}").status_code == 404


def test_branch_protection_refuses_a_git_push(server: DockyardServer, tmp_path: Path) -> None:
    from tests.ui.test_repo_pages import _git

    api = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    repo = unique("ui-protect")
    api.post("/api/v1/user/repos", json={"name": repo, "auto_init": True}).raise_for_status()
    c = sign_in(server)
    page = f"/{ADMIN_USER}/{repo}/settings/branches"
    r = post_form(c, page, page, {"rule_name": "main", "push": "none"})
    assert r.status_code == 303 and "no one" in c.get(page).text
    rules = api.get(f"/api/v1/repos/{ADMIN_USER}/{repo}/branch_protections").json()
    assert [(x["rule_name"], x["enable_push"]) for x in rules] == [("main", False)]
    work = tmp_path / "w"
    url = f"http://{ADMIN_USER}:{ADMIN_PASSWORD}@{server.host_port}/{ADMIN_USER}/{repo}.git"
    _git("clone", "-q", url, str(work), cwd=tmp_path)
    (work / "x.txt").write_text("x\n")
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", "x", cwd=work)
    pushed = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=work, capture_output=True, text=True)
    assert pushed.returncode != 0  # the rule the page made is the one git enforces
    assert post_form(c, page, page, {"rule_name": "main"}).status_code == 422  # exists already
    r = post_form(c, page, page + "/delete", {"rule_name": "main"})
    assert r.status_code == 303
    assert api.get(f"/api/v1/repos/{ADMIN_USER}/{repo}/branch_protections").json() == []
