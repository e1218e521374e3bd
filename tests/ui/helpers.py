"""A signed-in browser-like client for page tests: cookies, form tokens, no Authorization."""

from __future__ import annotations

import re

import httpx

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "page has no form token"
    return match.group(1)


def browser(server: DockyardServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)


def sign_in(server: DockyardServer, user: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> httpx.Client:
    client = browser(server)
    token = form_token(client.get("/user/login").text)
    r = client.post("/user/login", data={"csrf_token": token, "username": user, "password": password})
    assert r.status_code == 303, r.text
    assert "dockyard_session" in client.cookies
    return client


def post_form(client: httpx.Client, page: str, action: str,
              data: dict[str, str] | None = None) -> httpx.Response:
    """Submit a form of `page` the way a browser does: with the page's form token."""
    token = form_token(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **(data or {})})
