"""Harbor immutable tag rules against a real server: made with harborapi (PyPI), enforced on
skopeo pushes, on the registry's DELETE and on the Harbor API's deletes with Harbor's 412
PRECONDITION; a disabled rule or a tag or repository it does not cover stays mutable."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer
from tests.images import make_layout
from tests.registry.conftest import skopeo
from tests.registry.test_harborapi import server

harborapi = pytest.importorskip("harborapi", reason="harborapi is in the dev extra")
__all__ = ["server"]  # a fixture: this module's own `dockyard up` (test_harborapi's)


def push(server: DockyardServer, layout_ref: str, target: str) -> tuple[bool, str]:
    result = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"{ADMIN_USER}:{ADMIN_PASSWORD}",
                    layout_ref, f"docker://{server.host_port}/{target}", check=False)
    return result.returncode == 0, result.stderr


def test_immutable_tags_are_pushed_once_and_never_deleted(server: DockyardServer, tmp_path: Path) -> None:
    from harborapi.models import ImmutableRule, ImmutableSelector

    project = f"imm-{uuid.uuid4().hex[:6]}"
    first = make_layout(tmp_path / "one", layers=[{"f": b"first\n"}])
    second = make_layout(tmp_path / "two", layers=[{"f": b"second\n"}])
    admin = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    assert admin.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201

    def api():  # noqa: ANN202 - one client per event loop (asyncio.run)
        return harborapi.HarborAsyncClient(url=f"{server.url}/api/v2.0", username=ADMIN_USER,
                                           secret=ADMIN_PASSWORD)

    async def create() -> int:
        client = api()
        await client.create_project_immutable_tag_rule(project, ImmutableRule(
            disabled=False, action="immutable", template="immutable_template",
            tag_selectors=[ImmutableSelector(kind="doublestar", decoration="matches",
                                             pattern="{release,rc}-*")],
            scope_selectors={"repository": [ImmutableSelector(kind="doublestar", decoration="repoMatches",
                                                              pattern="app")]}))
        rules = await client.get_project_immutable_tag_rules(project)
        assert len(rules) == 1 and rules[0].tag_selectors is not None
        assert rules[0].tag_selectors[0].pattern == "{release,rc}-*" and rules[0].id is not None
        return rules[0].id

    rule_id = asyncio.run(create())
    assert push(server, first.ref, f"{project}/app:release-1")[0]
    ok, stderr = push(server, second.ref, f"{project}/app:release-1")
    assert not ok and "immutable" in stderr, stderr
    assert push(server, second.ref, f"{project}/app:dev")[0]  # not covered: mutable
    assert push(server, first.ref, f"{project}/app:dev")[0]
    assert push(server, first.ref, f"{project}/other:release-1")[0]  # another repository
    assert push(server, second.ref, f"{project}/other:release-1")[0]

    deleted = admin.delete(f"/v2/{project}/app/manifests/release-1")
    assert deleted.status_code == 412 and deleted.json()["errors"][0]["code"] == "PRECONDITION"
    by_digest = admin.delete(f"/v2/{project}/app/manifests/{first.manifest_digest}")
    assert by_digest.status_code == 412
    artifact = f"/api/v2.0/projects/{project}/repositories/app/artifacts/release-1"
    api_tag = admin.delete(f"{artifact}/tags/release-1")
    assert api_tag.status_code == 412 and "immutable" in api_tag.json()["errors"][0]["message"]
    assert admin.delete(artifact).status_code == 412
    assert admin.delete(f"{artifact}/tags/dev").status_code == 200  # its mutable tag may go
    tags = admin.get(f"{artifact}/tags").json()
    assert [(t["name"], t["immutable"]) for t in tags] == [("release-1", True)]

    # disabled through harborapi: the tag can be replaced again
    asyncio.run(api().enable_project_immutable_tagrule(project, rule_id, False))
    assert push(server, second.ref, f"{project}/app:release-1")[0]
    with server.client(ADMIN_USER, ADMIN_PASSWORD) as c:
        assert c.get(f"/v2/{project}/app/manifests/release-1", headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json"}).headers["docker-content-digest"] \
            == second.manifest_digest
    asyncio.run(api().delete_project_immutable_tag_rule(project, rule_id))
    assert admin.get(f"/api/v2.0/projects/{project}/immutabletagrules").json() == []
    admin.close()


def test_hostile_rules_are_4xx_and_only_admins_change_them(server: DockyardServer) -> None:
    project = f"immh-{uuid.uuid4().hex[:6]}"
    with server.client() as admin:
        assert admin.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
        base = f"/api/v2.0/projects/{project}/immutabletagrules"
        good = {"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
                "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches",
                                                    "pattern": "**"}]}}
        for bad in ({"tag_selectors": []}, {"tag_selectors": "v*"}, {"action": "retain"},
                    {"tag_selectors": [{"decoration": "sorta", "pattern": "x"}]},
                    {"tag_selectors": [{"decoration": "matches", "pattern": "x" * 300}]},
                    {"tag_selectors": [{"kind": "regex", "decoration": "matches", "pattern": "x"}]},
                    {"scope_selectors": {"repository": [{"decoration": "matches", "pattern": "x"}]}},
                    {"scope_selectors": []}, {"priority": "high"}, {"disabled": "no"}):
            answer = admin.post(base, json={**good, **bad})
            assert answer.status_code == 400, (bad, answer.text)
        assert admin.post(base, content=b"{" * 5000, headers={"Content-Type": "application/json"}
                          ).status_code == 400
        assert admin.post(base, json=good).status_code == 201
        rule_id = admin.get(base).json()[0]["id"]
        for path in ("abc", "999999", "99999999999999999999999"):
            assert admin.put(f"{base}/{path}", json=good).status_code == 404
        user = f"immu-{uuid.uuid4().hex[:4]}"
        server.add_user(user, "immpw")
        assert admin.post(f"/api/v2.0/projects/{project}/members",
                          json={"role_id": 2, "member_user": {"username": user}}).status_code == 201
    with server.client(user, "immpw") as developer:
        assert developer.get(base).status_code == 200
        assert developer.post(base, json=good).status_code == 403
        assert developer.delete(f"{base}/{rule_id}").status_code == 403
    assert httpx.get(server.url + base).status_code in (401, 404)
