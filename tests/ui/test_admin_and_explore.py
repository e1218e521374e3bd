"""Administration pages (system, users, credentials without values), the explore page with
search, and rebuild, against a real `dockyard up`."""

from __future__ import annotations

import os
import subprocess

import httpx

from tests.ci.conftest import Jenkins, inline_job_xml, unique
from tests.ci.conftest import jenkins as jenkins  # noqa: F401 - the session fixture
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool
from tests.ui.helpers import browser, form_token, post_form, sign_in


def test_admin_pages_for_administrators_only(server: DockyardServer) -> None:
    api = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    secret = "ui-admin-cred-value-4417"
    r = api.post("/api/ci/credentials", json={"id": unique("ui-cred"), "kind": "secret_text", "text": secret})
    assert r.status_code in (200, 201), r.text
    c = sign_in(server)
    system = c.get("/-/admin")
    assert system.status_code == 200 and "Executors" in system.text and "free" in system.text
    creds = c.get("/-/admin/credentials")
    assert creds.status_code == 200 and r.json()["id"] in creds.text and secret not in creds.text
    gc = post_form(c, "/-/admin", "/-/admin/gc")
    assert gc.status_code == 200 and "would delete" in gc.text and "dry run" in gc.text
    name = unique("ui-made")
    made = post_form(c, "/-/admin/users", "/-/admin/users", {"username": name, "password": "made-password-1"})
    assert made.status_code == 200 and f"User {name} created" in made.text
    sign_in(server, name, "made-password-1")  # the new user signs in
    dup = post_form(c, "/-/admin/users", "/-/admin/users", {"username": name, "password": "x"})
    assert dup.status_code == 422 and "already exists" in dup.text
    # not an administrator: the pages do not exist
    plain = sign_in(server, name, "made-password-1")
    for path in ("/-/admin", "/-/admin/users", "/-/admin/credentials"):
        assert plain.get(path).status_code == 404
    refused = post_form(plain, "/", "/-/admin/users", {"username": unique("x"), "password": "p"})
    assert refused.status_code == 404
    assert browser(server).get("/-/admin").status_code == 303


def test_explore_searches_visible_repositories(server: DockyardServer) -> None:
    api = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    public, private = unique("ui-explore-pub"), unique("ui-explore-priv")
    api.post("/api/v1/user/repos", json={"name": public, "description": "findable"}).raise_for_status()
    api.post("/api/v1/user/repos", json={"name": private, "private": True}).raise_for_status()
    anon = browser(server).get("/explore/repos", params={"q": "ui-explore"})
    assert anon.status_code == 200 and public in anon.text and private not in anon.text
    admin = sign_in(server).get("/explore/repos", params={"q": "ui-explore"})
    assert public in admin.text and private in admin.text
    assert public not in browser(server).get("/explore/repos", params={"q": "zzz-nothing"}).text


def test_rebuild_keeps_parameters_but_not_passwords(server: DockyardServer, jenkins: Jenkins) -> None:  # noqa: F811
    name = unique("ui-rebuild")
    jenkins.create(name, inline_job_xml(
        "pipeline { agent any\n parameters {\n  string(name: 'WHO', defaultValue: 'x')\n }\n"
        " stages { stage('S') { steps { sh 'echo hi $WHO' } } } }"))
    number = jenkins.number_of(jenkins.build(name, WHO="first"))
    jenkins.wait(name, number)
    c = sign_in(server)
    r = post_form(c, f"/job/{name}/{number}/", f"/job/{name}/{number}/-/rebuild")
    assert r.status_code == 303
    again = int(r.headers["location"].rsplit("=", 1)[1])
    info = jenkins.wait(name, again)
    assert info["result"] == "SUCCESS" and "hi first" in jenkins.console(name, again)


def _curl(url: str, *args: str) -> int:
    """The HTTP status curl gets for `url` (the real client the brief asks for)."""
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *args, url],
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


def _git_works(server: DockyardServer, user: str, password: str, repo: str) -> bool:
    url = f"http://{user}:{password}@{server.host_port}/{user}/{repo}.git"
    done = subprocess.run(["git", "ls-remote", url], capture_output=True, text=True, check=False,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    return done.returncode == 0 and "refs/heads/main" in done.stdout


def _edit(client: httpx.Client, data: dict[str, str]) -> httpx.Response:
    return post_form(client, "/-/admin/users", "/-/admin/users/edit", data)


def test_disable_enable_and_administrators(fresh_server: DockyardServer) -> None:
    """A disabled user's password (UI, basic auth, git), API token and open session stop working
    at once and work again when enabled; the last administrator cannot be disabled or demoted."""
    require_tool("curl")
    require_tool("git")
    server = fresh_server
    admin = sign_in(server)
    user, password = "ui-alice", "alice-password-7731"
    assert post_form(admin, "/-/admin/users", "/-/admin/users",
                     {"username": user, "password": password}).status_code == 200
    api = httpx.Client(base_url=server.url, auth=(user, password), timeout=30)
    token = api.post(f"/api/v1/users/{user}/tokens", json={"name": "t", "scopes": ["all"]}).json()["sha1"]
    assert api.post("/api/v1/user/repos", json={"name": "app", "auto_init": True,
                                                   "private": True}).status_code == 201
    session = sign_in(server, user, password)
    me = f"{server.url}/api/v1/user"

    def works() -> list[bool]:
        return [_curl(me, "-u", f"{user}:{password}") == 200,
                _curl(me, "-H", f"Authorization: token {token}") == 200,
                _curl(me, "-u", f"{user}:{token}") == 200,
                _git_works(server, user, password, "app"),
                session.get("/user/settings/applications").status_code == 200]

    assert works() == [True] * 5
    page = admin.get("/-/admin/users").text
    assert f'name="username" value="{user}"' in page and 'value="disable"' in page
    r = _edit(admin, {"username": user, "action": "disable"})
    assert r.status_code == 200 and f"{user} is disabled" in r.text
    assert works() == [False] * 5
    login = browser(server)
    token_field = form_token(login.get("/user/login").text)
    refused = login.post("/user/login",
                         data={"csrf_token": token_field, "username": user, "password": password})
    assert refused.status_code != 303 and "dockyard_session" not in login.cookies
    r = _edit(admin, {"username": user, "action": "enable"})
    assert r.status_code == 200 and f"{user} is enabled again" in r.text
    assert works()[:4] == [True] * 4
    assert session.get("/user/settings/applications").status_code == 303  # closed for good
    session = sign_in(server, user, password)

    # administrators: never none left, nobody disables themself, no change without the form token
    for action, says in (("remove_admin", "last enabled administrator"),
                         ("disable", "cannot disable yourself")):
        r = _edit(admin, {"username": ADMIN_USER, "action": action})
        assert r.status_code == 422 and says in r.text, r.text
    no_token = admin.post("/-/admin/users/edit", data={"username": user, "action": "make_admin"})
    assert no_token.status_code == 403
    alice = session
    assert alice.get("/-/admin").status_code == 404
    r = _edit(admin, {"username": user, "action": "make_admin"})
    assert r.status_code == 200 and f"{user} is an administrator" in r.text
    assert alice.get("/-/admin").status_code == 200  # takes effect on the open session
    # two administrators: one can now step down, and the other is then the last one
    r = _edit(alice, {"username": ADMIN_USER, "action": "remove_admin"})
    assert r.status_code == 200 and f"{ADMIN_USER} is no longer an administrator" in r.text
    assert admin.get("/-/admin").status_code == 404
    r = _edit(alice, {"username": user, "action": "remove_admin"})
    assert r.status_code == 422 and "last enabled administrator" in r.text
    bad = _edit(alice, {"username": user, "action": "root"})
    assert bad.status_code == 422 and "Unknown change" in bad.text
    gone = _edit(alice, {"username": "nobody-here", "action": "disable"})
    assert gone.status_code == 422 and "no such user" in gone.text


def test_organisations_and_members(server: DockyardServer) -> None:
    """Create an organisation from /-/admin/orgs, add, re-role and remove members; the Gitea API
    sees the same memberships, and the only owner stays one."""
    admin = sign_in(server)
    api = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    org, member = unique("ui-org"), unique("ui-member")
    server.add_user(member, "member-password-1")
    r = post_form(admin, "/-/admin/orgs", "/-/admin/orgs", {"name": org, "visibility": "private"})
    assert r.status_code == 303 and r.headers["location"].endswith(f"/-/admin/orgs/{org}")
    listing = admin.get("/-/admin/orgs").text
    assert f'href="/-/admin/orgs/{org}"' in listing and "private" in listing
    page = f"/-/admin/orgs/{org}"
    assert ADMIN_USER in admin.get(page).text

    def members() -> set[str]:
        return {u["login"] for u in api.get(f"/api/v1/orgs/{org}/members").json()}

    r = post_form(admin, page, f"{page}/members", {"username": member, "role": "read"})
    assert r.status_code == 200 and f"{member} is a member (read)" in r.text
    assert members() == {ADMIN_USER, member}
    reader = httpx.Client(base_url=server.url, auth=(member, "member-password-1"), timeout=30)
    assert reader.get(f"/api/v1/orgs/{org}").status_code == 200  # a private org, seen by its member
    r = post_form(admin, page, f"{page}/members", {"username": member, "role": "admin"})
    assert r.status_code == 200 and f"{member} is a member (admin)" in r.text
    r = post_form(admin, page, f"{page}/members/delete", {"username": member})
    assert r.status_code == 200 and f"{member} is no longer a member" in r.text
    assert members() == {ADMIN_USER}
    assert reader.get(f"/api/v1/orgs/{org}").status_code == 404
    # refusals: the only owner, an unknown user or role, no form token, not an administrator
    for action, data, says in (
        ("/members/delete", {"username": ADMIN_USER}, "only owner"),
        ("/members", {"username": ADMIN_USER, "role": "read"}, "only owner"),
        ("/members", {"username": "nobody-here", "role": "read"}, "no such user"),
        ("/members", {"username": member, "role": "god"}, "unknown role"),
    ):
        r = post_form(admin, page, page + action, data)
        assert r.status_code == 422 and says in r.text, (action, data, r.text)
    assert members() == {ADMIN_USER}
    taken = post_form(admin, "/-/admin/orgs", "/-/admin/orgs", {"name": org})
    assert taken.status_code == 422
    assert admin.post(f"{page}/members", data={"username": member, "role": "read"}).status_code == 403
    assert admin.get("/-/admin/orgs/no-such-org-here").status_code == 404
    plain = sign_in(server, member, "member-password-1")
    assert plain.get("/-/admin/orgs").status_code == 404 and plain.get(page).status_code == 404
    assert post_form(plain, "/", f"{page}/members", {"username": member, "role": "admin"}).status_code == 404
    assert members() == {ADMIN_USER}
