"""Administration pages (system, users, credentials without values), the explore page with
search, and rebuild, against a real `dockyard up`."""

from __future__ import annotations

import httpx

from tests.ci.conftest import Jenkins, inline_job_xml, unique
from tests.ci.conftest import jenkins as jenkins  # noqa: F401 - the session fixture
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer
from tests.ui.helpers import browser, post_form, sign_in


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
