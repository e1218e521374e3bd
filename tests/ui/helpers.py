"""A signed-in browser-like client for page tests (cookies, form tokens, no Authorization), and
long build histories written straight into the CI tables."""

from __future__ import annotations

import re
import time

import httpx
from sqlalchemy import text

from dockyard.store import Database
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


def insert_builds(server: DockyardServer, job: str, count: int) -> None:
    """`count` finished builds #1..count of `job` (every 7th a FAILURE), written straight into
    the server's CI tables as that many runs would leave them: long histories in seconds."""
    db = Database(server.database())
    try:
        job_id = db.rows("SELECT id FROM ci_jobs WHERE name = :n", n=job)[0].id
        now = time.time()
        rows = [{"j": job_id, "n": n, "r": "SUCCESS" if n % 7 else "FAILURE", "t": now - count + n}
                for n in range(1, count + 1)]
        with db.transaction() as conn:
            conn.execute(text("INSERT INTO ci_builds (job_id, number, state, result, cause, queued_at,"
                              " started_at, finished_at)"
                              " VALUES (:j, :n, 'DONE', :r, 'bulk', :t, :t, :t)"), rows)
            conn.execute(text("UPDATE ci_jobs SET next_number = :n WHERE id = :j"),
                         {"j": job_id, "n": count + 1})
    finally:
        db.close()
