"""Every URL the APIs hand out opens a page, and every link of the pages resolves: a populated
server (a repository with commits, a job built from a push with its commit status, an image) is
walked from the APIs' html_url/url/target_url fields and crawled from the home page."""

from __future__ import annotations

import re
import time
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.ci.conftest import Jenkins, job_xml, unique
from tests.ci.conftest import jenkins as jenkins  # noqa: PLC0414 - the session fixture
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool
from tests.ui.helpers import sign_in
from tests.ui.test_registry_pages import CONFIG, push
from tests.ui.test_repo_pages import _git

JENKINSFILE = "pipeline { agent any\n stages { stage('Hello') { steps { sh 'echo hello links' } } } }\n"
HREF = re.compile(r'href="([^"]+)"')
SKIP = ("/console/events", "/assets/")


def _urls(value: Any, keys: tuple[str, ...] = ("html_url", "url", "target_url")) -> list[str]:
    """Every string under one of `keys`, anywhere in a JSON document."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k in keys and isinstance(v, str) and v:
                found.append(v)
            else:
                found += _urls(v, keys)
    elif isinstance(value, list):
        for item in value:
            found += _urls(item, keys)
    return found


def populate(server: DockyardServer, jenkins: Jenkins, tmp_path: Path) -> tuple[str, str, str, str]:
    """(repository name, job name, pushed commit, image project) after one push-triggered build
    finished and an image `{project}/app:v1,v2` was pushed."""
    require_tool("git")
    api = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    repo = unique("ui-links")
    assert api.post("/api/v1/user/repos", json={"name": repo, "auto_init": True}).status_code == 201
    job = unique("ui-links-job")
    jenkins.create(job, job_xml(f"{server.url}/{ADMIN_USER}/{repo}.git"))
    work = tmp_path / repo
    _git("clone", "-q", f"http://{ADMIN_USER}:{ADMIN_PASSWORD}@{server.host_port}/{ADMIN_USER}/{repo}.git",
         str(work), cwd=tmp_path)
    (work / "Jenkinsfile").write_text(JENKINSFILE)
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", "Add a pipeline", cwd=work)
    _git("push", "-q", "origin", "main", cwd=work)
    sha = _git("rev-parse", "HEAD", cwd=work).strip()
    deadline = time.monotonic() + 120
    while True:
        statuses = api.get(f"/api/v1/repos/{ADMIN_USER}/{repo}/statuses/{sha}").json()
        if any(s["status"] in ("success", "failure", "error") for s in statuses):
            break
        assert time.monotonic() < deadline, f"no final commit status for {sha}"
        time.sleep(0.2)
    project = unique("uilinks").replace("-", "")
    push(api, f"{project}/app", ["v1", "v2"], CONFIG, b"layer-links")
    return repo, job, sha, project


@pytest.fixture(scope="module")
def populated(server: DockyardServer, jenkins: Jenkins,  # noqa: F811
              tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str, str]:
    return populate(server, jenkins, tmp_path_factory.mktemp("links"))


# ², ¹², 25 digits, -1, empty, 0, an Arabic-Indic 1
HOSTILE = ["\u00b2", "\u00b9\u00b2", "1" * 25, "-1", "", "0", "\u0661"]


def _wire(value: str) -> bytes:
    """A header value as the server reads it back (HTTP headers are latin-1 on the wire)."""
    return value.encode("latin-1") if all(ord(c) < 256 for c in value) else value.encode()


def test_hostile_page_numbers_are_first_pages(server: DockyardServer, jenkins: Jenkins,  # noqa: F811
                                              populated: tuple[str, str, str, str]) -> None:
    """`"²".isdigit()` is True but `int("²")` raises: every page number and the console's
    Last-Event-ID go through one ASCII check, so hostile values give page 1 (or offset 0), not 500."""
    repo, job, _, project = populated
    api = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    project_id = api.get(f"/api/v2.0/projects/{project}").json()["project_id"]
    digest = api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts").json()[0]["digest"]
    anonymous = httpx.Client(base_url=server.url, timeout=30)
    browser = sign_in(server)
    listings = [
        (anonymous, f"/{ADMIN_USER}/{repo}/commits/branch/main", "page", "Add a pipeline"),
        (browser, f"/job/{job}/", "page", "#1"),
        (browser, f"/harbor/projects/{project_id}/repositories/app", "page", digest[:19]),
        (browser, f"/harbor/projects/{project_id}/repositories/app/artifacts-tab/artifacts/{digest}",
         "tags_page", "v2"),
    ]
    for client, path, name, first_page_shows in listings:
        for value in HOSTILE:
            r = client.get(path, params={name: value})
            assert r.status_code == 200, (path, name, value, r.status_code)
            assert first_page_shows in r.text, (path, value)
    for value in HOSTILE:
        r = browser.get(f"/job/{job}/1/console/events", headers={"Last-Event-ID": _wire(value)})
        assert r.status_code == 200, (value, r.status_code)
        assert "hello links" in r.text and "event: end" in r.text, value  # replayed from offset 0


def test_api_urls_and_page_links_resolve(server: DockyardServer, jenkins: Jenkins,  # noqa: F811
                                         populated: tuple[str, str, str, str]) -> None:
    repo, job, sha, _ = populated
    api = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    documents = [
        api.get(f"/api/v1/repos/{ADMIN_USER}/{repo}").json(),
        api.get(f"/api/v1/repos/{ADMIN_USER}/{repo}/commits").json(),
        api.get(f"/api/v1/repos/{ADMIN_USER}/{repo}/git/commits/{sha}").json(),
        api.get(f"/api/v1/repos/{ADMIN_USER}/{repo}/contents/Jenkinsfile").json(),
        api.get(f"/api/v1/repos/{ADMIN_USER}/{repo}/contents").json(),
        api.get(f"/api/v1/repos/{ADMIN_USER}/{repo}/branches").json(),
        api.get(f"/api/v1/users/{ADMIN_USER}").json(),
        api.get(f"/api/v1/repos/{ADMIN_USER}/{repo}/statuses/{sha}").json(),
        jenkins.http.get("/api/json").json(),
        jenkins.http.get(f"/job/{job}/api/json").json(),
        jenkins.http.get(f"/job/{job}/1/api/json").json(),
        api.get("/api/v2.0/projects").json(),
    ]
    pages = {u for doc in documents for u in _urls(doc)
             if u.startswith(server.url) and not urlsplit(u).path.startswith(("/api/", "/queue/"))}
    expected = {f"{server.url}/{ADMIN_USER}/{repo}", f"{server.url}/{ADMIN_USER}",
                f"{server.url}/{ADMIN_USER}/{repo}/commit/{sha}", f"{server.url}/job/{job}/",
                f"{server.url}/job/{job}/1/", f"{server.url}/{ADMIN_USER}/{repo}/src/branch/main/Jenkinsfile"}
    assert expected <= pages, expected - pages
    browser = sign_in(server)
    home = browser.get("/").text
    assert f"pushed <code>main</code> of <a href=\"/{ADMIN_USER}/{repo}\">" in home  # recent pushes
    assert f"/{ADMIN_USER}/{repo}/commit/{sha}" in home
    for url in sorted(pages):
        r = browser.get(url, follow_redirects=True)
        assert r.status_code == 200, (url, r.status_code)
        assert r.headers["content-type"].startswith("text/html"), url

    # crawl: every link of every page reachable from the home page answers without an error
    seen: set[str] = set()
    queue = deque(["/"])
    while queue and len(seen) < 400:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        r = browser.get(path, follow_redirects=True)
        assert r.status_code < 400, (path, r.status_code)
        assert f":{ADMIN_PASSWORD}@" not in r.text and "YWRtaW46Ym9vdGNhbXA=" not in r.text
        if not r.headers.get("content-type", "").startswith("text/html"):
            continue
        for href in HREF.findall(r.text):
            target = urljoin(server.url + path, href.replace("&amp;", "&"))
            parts = urlsplit(target)
            if target.startswith(server.url) and not parts.path.startswith(SKIP) \
                    and "delete-tag" not in parts.path:
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    print(f"crawled {len(seen)} pages")
    for must in (f"/{ADMIN_USER}/{repo}", f"/job/{job}/1/", f"/{ADMIN_USER}/{repo}/commit/{sha}",
                 "/harbor/projects"):
        assert must in seen, must
