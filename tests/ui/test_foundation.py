"""Issue 13's foundation against a real `dockyard up`: the Jenkins root header for
python-jenkins, sign-in with a server-side session, form tokens, sign-out, rate limiting."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import jenkins as python_jenkins

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool
from tests.ui.helpers import browser, form_token, post_form, sign_in


def test_python_jenkins_get_version(server: DockyardServer) -> None:
    client = python_jenkins.Jenkins(server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    assert client.get_version() == "2.462.3"
    # the JSON API stays where Jenkins has it
    r = httpx.get(server.url + "/api/json", auth=(ADMIN_USER, ADMIN_PASSWORD))
    assert r.status_code == 200 and r.json()["_class"] == "hudson.model.Hudson"


def test_home_page_for_anonymous_has_security_headers(server: DockyardServer) -> None:
    r = browser(server).get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "Sign in" in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    assert r.headers["x-jenkins"]
    assert "/assets/style.css" in r.text
    assert browser(server).get("/assets/style.css").status_code == 200


def test_sign_in_session_cookie_and_sign_out_revokes_it(server: DockyardServer, tmp_path: Path) -> None:
    curl = require_tool("curl")
    jar = tmp_path / "jar"
    page = subprocess.run([curl, "-s", "-c", str(jar), "-b", str(jar), server.url + "/user/login"],
                          check=True, capture_output=True, text=True).stdout
    token = form_token(page)
    out = subprocess.run(
        [curl, "-s", "-i", "-c", str(jar), "-b", str(jar), "--data-urlencode", f"csrf_token={token}",
         "--data-urlencode", f"username={ADMIN_USER}", "--data-urlencode", f"password={ADMIN_PASSWORD}",
         server.url + "/user/login"], check=True, capture_output=True, text=True).stdout
    assert out.startswith("HTTP/1.1 303")
    cookie = next(line for line in out.splitlines()
                  if line.lower().startswith("set-cookie: dockyard_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # plain HTTP here
    home = subprocess.run([curl, "-s", "-b", str(jar), server.url + "/"],
                          check=True, capture_output=True, text=True).stdout
    assert f"Welcome, {ADMIN_USER}" in home and "Sign out" in home
    assert ADMIN_PASSWORD not in home

    session = next(line.split("\t")[-1] for line in jar.read_text().splitlines()
                   if "\tdockyard_session\t" in line)
    c = browser(server)
    c.cookies.set("dockyard_session", session)
    r = post_form(c, "/", "/user/logout")
    assert r.status_code == 303
    # the old cookie value no longer opens anything, even if a copy of it survived
    stale = browser(server)
    stale.cookies.set("dockyard_session", session)
    assert "Welcome" not in stale.get("/").text


def test_form_without_token_is_refused(server: DockyardServer) -> None:
    c = browser(server)
    c.get("/user/login")
    r = c.post("/user/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert r.status_code == 403 and "dockyard_session" not in c.cookies
    signed = sign_in(server)
    r = signed.post("/user/logout", data={})
    assert r.status_code == 403
    r = signed.post("/user/logout", data={"csrf_token": "forged"})
    assert r.status_code == 403
    assert "Welcome" in signed.get("/").text  # still signed in


def test_basic_auth_is_not_accepted_for_pages(server: DockyardServer) -> None:
    r = httpx.get(server.url + "/", auth=(ADMIN_USER, ADMIN_PASSWORD))
    assert r.status_code == 200 and "Welcome" not in r.text and "Sign in" in r.text


def test_api_token_does_not_open_a_session(server: DockyardServer) -> None:
    token = httpx.post(server.url + "/api/v1/users/admin/tokens", auth=(ADMIN_USER, ADMIN_PASSWORD),
                       json={"name": "ui-login-token", "scopes": ["all"]}).json()["sha1"]
    c = browser(server)
    r = post_form(c, "/user/login", "/user/login", {"username": ADMIN_USER, "password": token})
    assert r.status_code == 401 and "dockyard_session" not in c.cookies


def test_failed_logins_are_rate_limited(server: DockyardServer) -> None:
    server.add_user("ui-limited", "right-password-1")
    c = browser(server)
    statuses = [post_form(c, "/user/login", "/user/login",
                          {"username": "ui-limited", "password": "wrong"}).status_code for _ in range(6)]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
    r = post_form(c, "/user/login", "/user/login", {"username": "ui-limited", "password": "right-password-1"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in r.text
    sign_in(server)  # other users are not locked out


def test_open_redirect_after_sign_in_is_refused(server: DockyardServer) -> None:
    c = browser(server)
    r = post_form(c, "/user/login?redirect_to=//evil.example/", "/user/login",
                  {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "redirect_to": "//evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_access_tokens_created_shown_once_and_revoked(server: DockyardServer) -> None:
    server.add_user("ui-tokens", "tokens-password-1")
    c = sign_in(server, "ui-tokens", "tokens-password-1")
    r = post_form(c, "/user/settings/applications", "/user/settings/applications",
                  {"name": "ci-read", "scope.repository": "read", "scope.user": "read"})
    assert r.status_code == 200
    secret = r.text.split('id="new-token" readonly value="', 1)[1].split('"', 1)[0]
    assert len(secret) >= 20 and "read:repository" in r.text and "read:user" in r.text
    # the secret works as the API's token, with its scopes, and is never shown again
    me = httpx.get(server.url + "/api/v1/user", headers={"Authorization": f"token {secret}"})
    assert me.status_code == 200 and me.json()["login"] == "ui-tokens"
    made = httpx.post(server.url + "/api/v1/user/repos", headers={"Authorization": f"token {secret}"},
                      json={"name": "not-with-a-read-token"})
    assert made.status_code == 403  # read scopes only
    listing = c.get("/user/settings/applications").text
    assert secret not in listing and secret[-8:] in listing
    # a token cannot be made with an unknown name twice, and revoking ends it
    again = post_form(c, "/user/settings/applications", "/user/settings/applications",
                      {"name": "ci-read"})
    assert again.status_code == 422 and "used already" in again.text
    token_id = listing.split('name="id" value="', 1)[1].split('"', 1)[0]
    assert c.post("/user/settings/applications/delete", data={"id": token_id}).status_code == 403
    r = post_form(c, "/user/settings/applications", "/user/settings/applications/delete", {"id": token_id})
    assert r.status_code == 303
    gone = httpx.get(server.url + "/api/v1/user", headers={"Authorization": f"token {secret}"})
    assert gone.status_code == 401
    assert browser(server).get("/user/settings/applications").status_code == 303  # sign in first
