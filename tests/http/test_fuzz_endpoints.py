"""Acceptance 5 (endpoints): hypothesis-generated bodies against every route of the app.

The routes are enumerated from the app itself (a new endpoint is fuzzed without touching this
file), each path parameter filled with a real object or a hostile value, and each request sent to
a real `dockyard up` as an administrator, as a plain user and anonymously, with random JSON of
any shape and depth, wrong types, huge strings, wrong content types, malformed bytes and
hostile query parameters. No answer may be a 5xx and none may hang (the client's timeout fails
the test). Marked slow: ~1700 requests take 25-100 s depending on the machine's load.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import BaseRoute, Mount, Route

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer

PER_ROUTE = 15  # generated requests per route (x ~120 routes)
TIMEOUT = 30.0  # seconds per request: a hang fails the test
USER, USER_PASSWORD = "fuzzuser", "fuzz-password-1"
REPO, PROJECT, ORG = "fuzzrepo", "fuzzproj", "fuzzorg"
DIGEST = "sha256:" + "0" * 64

# Per path parameter: a real object first, then hostile values.
HOSTILE = ["nope", "%E2%98%83", "a" * 300, "%00", "..%2F..%2Fetc"]
SAMPLES: dict[str, list[str]] = {
    "owner": [ADMIN_USER, USER], "repo": [REPO, REPO + ".git"], "org": [ORG],
    "username": [USER, ADMIN_USER], "project": [PROJECT, "library", "1"],
    "name": ["fuzzjob"], "ref": ["1", "lastBuild"], "n": ["1", "0", "99999999999999999999"],
    "id": ["1", "0"], "sha": ["main", "0" * 40], "path": ["README.md", "a/b.txt", "dir/"],
    "credential_id": ["fuzz-cred"], "token": ["1", "fuzz"], "org_name": [ORG],
    "rest": [f"{PROJECT}/app/manifests/v1", f"{PROJECT}/app/tags/list", f"{PROJECT}/app/blobs/uploads/",
             f"{PROJECT}/app/blobs/{DIGEST}", f"{PROJECT}/app/referrers/{DIGEST}", "_catalog",
             "app", "app/artifacts", "app/artifacts/latest/tags", "app/artifacts/latest/tags/x"],
}
_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
FIELD_NAMES = ["name", "description", "website", "private", "project_name", "metadata", "public",
               "username", "password", "email", "full_name", "content", "dates", "author",
               "committer", "message", "branch", "new_branch", "sha", "config", "type", "events",
               "active", "url", "state", "context", "target_url", "scopes", "permission", "role",
               "id", "kind", "text", "secret", "default_branch", "auto_init", "visibility",
               "branch_name", "rule_name", "parameter", "json", "ref", "after", "repository"]
CONTENT_TYPES = [None, "application/json", "application/json; charset=utf-8", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
                 "application/xml", "application/vnd.oci.image.manifest.v1+json",
                 "application/octet-stream"]

QUERY_NAMES = ["page", "limit", "page_size", "n", "last", "q", "name", "public", "project_name",
               "scope", "service", "sha", "ref", "path", "start", "xpath", "tree", "depth", "token",
               "mode", "from", "digest", "mount", "tag", "files", "offline_token", "access_token"]
queries = st.dictionaries(st.sampled_from(QUERY_NAMES),
                          st.sampled_from(["-1", "0", "abc", "99999999999999999999", "", "%00"])
                          | st.text(max_size=30), max_size=3)

COUNTS: Counter[str] = Counter()


def app_routes(data_dir: Path) -> list[tuple[str, str]]:
    """(method, path template) of every route the real app serves."""
    from dockyard.config import Settings
    from dockyard.server.app import build_app, open_services

    services = open_services(Settings(data_dir=data_dir))
    try:
        app = build_app(services)
        return sorted(set(_walk(app.routes, "")))
    finally:
        services.db.close()


def _walk(routes: list[BaseRoute], prefix: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, Mount):
            found += _walk(list(route.routes), prefix + route.path)
        elif isinstance(route, Route):
            found += [(m, prefix + route.path) for m in sorted(route.methods or ()) if m != "HEAD"]
    return found


json_leaf = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
             | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=25)
known_object = st.dictionaries(st.sampled_from(FIELD_NAMES), json_value, max_size=6)


@st.composite
def bodies(draw: st.DrawFn) -> bytes | None:
    kind = draw(st.sampled_from(["none", "json", "object", "object", "deep", "huge", "bytes",
                                 "long-field"]))
    if kind == "none":
        return None
    if kind == "json":
        return json.dumps(draw(json_value)).encode()
    if kind == "object":
        return json.dumps(draw(known_object)).encode()
    if kind == "deep":
        depth = draw(st.integers(min_value=60, max_value=200_000))
        opener = draw(st.sampled_from(['[', '{"a":']))
        closer = "]" if opener == "[" else "}"
        return (opener * depth + "1" + closer * depth).encode()
    if kind == "huge":
        size = draw(st.sampled_from([70_000, 1024 * 1024 + 1, 3 * 1024 * 1024]))
        return json.dumps({draw(st.sampled_from(FIELD_NAMES)): "x" * size}).encode()
    if kind == "long-field":
        return json.dumps({draw(st.sampled_from(FIELD_NAMES)): "y" * draw(
            st.sampled_from([101, 256, 1025, 2049, 65537]))}).encode()
    return draw(st.binary(max_size=300))


def _expand(template: str, data: st.DataObject) -> str:
    def fill(match: re.Match[str]) -> str:
        return data.draw(st.sampled_from(SAMPLES.get(match.group(1), []) + HOSTILE))
    return _PARAM.sub(fill, template)


def _token(server: DockyardServer, user: str, password: str) -> str:
    r = httpx.post(f"{server.url}/api/v1/users/{user}/tokens", auth=(user, password),
                   json={"name": "fuzz", "scopes": ["all"]}, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    return str(r.json()["sha1"])


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - a generator fixture
    from tests.conftest import start_server

    srv = start_server(tmp_path_factory.mktemp("fuzz") / "data")
    try:
        srv.add_user(USER, USER_PASSWORD)
        with srv.client() as admin:
            assert admin.post("/api/v1/user/repos", json={"name": REPO, "auto_init": True}).status_code == 201
            assert admin.post("/api/v1/orgs", json={"username": ORG}).status_code == 201
            assert admin.post("/api/v2.0/projects", json={"project_name": PROJECT}).status_code == 201
        yield srv
    finally:
        srv.stop()


@pytest.mark.slow
def test_no_endpoint_answers_5xx_or_hangs(fuzz_server: DockyardServer, tmp_path: Path) -> None:
    routes = app_routes(tmp_path / "routes")
    assert len(routes) > 40, routes
    logins: dict[str, tuple[str, str] | None] = {
        "admin": (ADMIN_USER, _token(fuzz_server, ADMIN_USER, ADMIN_PASSWORD)),
        "user": (USER, _token(fuzz_server, USER, USER_PASSWORD)),
        "anonymous": None,
    }
    client = httpx.Client(base_url=fuzz_server.url, timeout=TIMEOUT)
    failures: list[str] = []
    covered: set[tuple[str, str]] = set()

    def fuzz(route: tuple[str, str]) -> None:
        """PER_ROUTE generated requests to one route: every route is covered on every run."""

        @settings(max_examples=PER_ROUTE, deadline=None, database=None, print_blob=True,
                  suppress_health_check=list(HealthCheck))
        @given(who=st.sampled_from(sorted(logins)), body=bodies(),
               content_type=st.sampled_from(CONTENT_TYPES), query=queries, data=st.data())
        def one_request(who: str, body: bytes | None, content_type: str | None,
                        query: dict[str, str], data: st.DataObject) -> None:
            method, template = route
            if who == "admin" and (method == "DELETE" or template.endswith("/doDelete")):
                return  # keep the fixtures the other requests go deep into
            path = _expand(template, data)
            headers = {"Content-Type": content_type} if content_type and body is not None else {}
            # a hang raises httpx.TimeoutException, which fails the test
            response = client.request(method, path, params=query, content=body, headers=headers,
                                      auth=logins[who] or httpx.USE_CLIENT_DEFAULT)
            COUNTS[f"{response.status_code // 100}xx"] += 1
            COUNTS["requests"] += 1
            covered.add(route)
            if response.status_code >= 500:  # collected: one run lists every failing endpoint
                failures.append(f"{method} {template} ({path}?{query}) as {who}, {content_type}, "
                                f"{(body or b'')[:60]!r} ({len(body or b'')} bytes) -> "
                                f"{response.status_code} {response.text[:200]}")

        one_request()

    try:
        for route in routes:
            fuzz(route)
    finally:
        client.close()
        print("\n".join(["", *failures]))
        print(f"\nfuzz: {COUNTS['requests']} requests over {len(covered)} of {len(routes)} "
              f"routes: " + ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items()) if k != "requests"))
    assert not failures, "\n".join(failures)
    assert httpx.get(fuzz_server.url + "/healthz", timeout=TIMEOUT).status_code == 200
    assert "Traceback" not in fuzz_server.log(), fuzz_server.log()[-3000:]
