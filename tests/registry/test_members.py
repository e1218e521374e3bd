"""Harbor project members, systeminfo, health and search against a real server: members added
with harborapi (PyPI) get exactly their Harbor role's rights in the registry (skopeo push/pull,
a manifest DELETE), through the one permission check; hostile member requests are 4xx."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer
from tests.images import make_layout
from tests.registry.conftest import push, skopeo
from tests.registry.test_harborapi import server

harborapi = pytest.importorskip("harborapi", reason="harborapi is in the dev extra")
__all__ = ["server"]  # a fixture: this module's own `dockyard up` (test_harborapi's)


def client(server: DockyardServer, user: str = ADMIN_USER, password: str = ADMIN_PASSWORD):  # noqa: ANN201
    return harborapi.HarborAsyncClient(url=f"{server.url}/api/v2.0", username=user, secret=password)


def can_push(server: DockyardServer, layout_ref: str, target: str, creds: str) -> bool:
    return skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, layout_ref,
                  f"docker://{server.host_port}/{target}", check=False).returncode == 0


def can_pull(server: DockyardServer, target: str, creds: str) -> bool:
    return skopeo("inspect", "--tls-verify=false", "--creds", creds,
                  f"docker://{server.host_port}/{target}", check=False).returncode == 0


def test_members_get_their_harbor_roles_in_the_registry(server: DockyardServer, tmp_path: Path) -> None:
    project = f"team-{uuid.uuid4().hex[:6]}"
    users = {role: f"{role}-{uuid.uuid4().hex[:4]}" for role in ("dev", "guest", "keeper", "boss")}
    for name in users.values():
        server.add_user(name, "memberpw")
    layout = make_layout(tmp_path / "img", layers=[{"m": b"member layer\n"}])
    with server.client() as admin:
        assert admin.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
    push(layout.ref, server, f"{project}/app:v1")

    async def add() -> None:
        api = client(server)
        await api.add_project_member_user(project, users["dev"], 2)
        await api.add_project_member_user(project, users["guest"], 3)
        await api.add_project_member_user(project, users["keeper"], 4)
        location = await api.add_project_member_user(project, users["boss"], 1)
        assert location.startswith("/api/v2.0/projects/")
        members = await api.get_project_members(project)
        roles = {m.entity_name: (m.role_id, m.role_name, m.entity_type) for m in members}
        assert roles[users["dev"]] == (2, "developer", "u")
        assert roles[users["guest"]] == (3, "guest", "u")
        assert roles[users["keeper"]] == (4, "maintainer", "u")
        assert roles[users["boss"]] == (1, "projectAdmin", "u")
        dev = next(m for m in members if m.entity_name == users["dev"])
        assert dev.id is not None
        assert (await api.get_project_member(project, dev.id)).role_id == 2

    asyncio.run(add())
    creds = {role: f"{name}:memberpw" for role, name in users.items()}
    assert can_push(server, layout.ref, f"{project}/app:dev", creds["dev"])
    assert can_pull(server, f"{project}/app:v1", creds["guest"])
    assert not can_push(server, layout.ref, f"{project}/app:guest", creds["guest"])
    # deleting a manifest: a maintainer may, a developer may not
    digest = httpx.head(f"{server.url}/v2/{project}/app/manifests/dev", auth=(users["dev"], "memberpw"),
                        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}
                        ).headers["docker-content-digest"]
    gone = f"{server.url}/v2/{project}/app/manifests/{digest}"
    assert httpx.delete(gone, auth=(users["dev"], "memberpw")).status_code in (401, 403)
    assert httpx.delete(gone, auth=(users["keeper"], "memberpw")).status_code == 202
    # and through the Harbor API too (the registry's delete right, one check)
    push(layout.ref, server, f"{project}/app:v2")
    artifact = f"{server.url}/api/v2.0/projects/{project}/repositories/app/artifacts/v2"
    assert httpx.delete(artifact, auth=(users["dev"], "memberpw")).status_code == 403
    assert httpx.delete(artifact, auth=(users["keeper"], "memberpw")).status_code == 200
    # only the project admin manages members; a developer is refused
    with server.client(users["dev"], "memberpw") as dev:
        refused = dev.post(f"/api/v2.0/projects/{project}/members",
                           json={"role_id": 1, "member_user": {"username": users["dev"]}})
        assert refused.status_code == 403

    async def change() -> None:
        boss = client(server, users["boss"], "memberpw")
        members = await boss.get_project_members(project)
        guest = next(m for m in members if m.entity_name == users["guest"])
        dev = next(m for m in members if m.entity_name == users["dev"])
        assert guest.id is not None and dev.id is not None
        await boss.update_project_member_role(project, guest.id, 2)  # guest -> developer
        await boss.remove_project_member(project, dev.id)

    asyncio.run(change())
    assert can_push(server, layout.ref, f"{project}/app:promoted", creds["guest"])
    assert not can_pull(server, f"{project}/app:v1", creds["dev"])


def test_hostile_member_requests_are_4xx(server: DockyardServer) -> None:
    project = f"hm-{uuid.uuid4().hex[:6]}"
    outsider = f"out-{uuid.uuid4().hex[:4]}"
    server.add_user(outsider, "outpw")
    with server.client() as admin:
        assert admin.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
        base = f"/api/v2.0/projects/{project}/members"
        for body in ({"role_id": 9, "member_user": {"username": outsider}},
                     {"role_id": "1", "member_user": {"username": outsider}},
                     {"role_id": 1}, {"role_id": 1, "member_user": {}},
                     {"role_id": 1, "member_user": "admin"},
                     {"role_id": 1, "member_group": {"group_name": "x"},
                      "member_user": {"username": outsider}}):
            answer = admin.post(base, json=body)
            assert answer.status_code == 400, (body, answer.text)
        unknown = {"role_id": 1, "member_user": {"username": "nobody-here"}}
        assert admin.post(base, json=unknown).status_code == 404
        assert admin.post(base, content=b"[" * 10000, headers={"Content-Type": "application/json"}
                          ).status_code == 400
        assert admin.post(base, json={"role_id": 3, "member_user": {"username": outsider}}).status_code == 201
        assert admin.post(base, json={"role_id": 3, "member_user": {"username": outsider}}).status_code == 409
        for mid in ("abc", "99999999999999999999999", "999999"):
            assert admin.get(f"{base}/{mid}").status_code == 404
        assert admin.put(f"{base}/1", json={"role_id": 2}).status_code in (403, 404)
    with server.client(outsider, "outpw") as guest:  # a guest sees, but may not change
        assert guest.get(base).status_code == 200
        assert guest.post(base, json={"role_id": 1, "member_user": {"username": outsider}}).status_code == 403
    stranger = f"st-{uuid.uuid4().hex[:4]}"
    server.add_user(stranger, "stpw")
    with server.client(stranger, "stpw") as other:  # not a member: the project is not there
        assert other.get(base).status_code == 404
        assert other.post(base, json={"role_id": 1, "member_user": {"username": stranger}}).status_code == 404
    assert httpx.post(server.url + base, json={"role_id": 1, "member_user": {"username": outsider}}
                      ).status_code in (401, 404)


def test_systeminfo_health_and_search(server: DockyardServer, tmp_path: Path) -> None:
    project = f"srch-{uuid.uuid4().hex[:6]}"
    with server.client() as admin:
        assert admin.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
    push(make_layout(tmp_path / "img", layers=[{"s": b"search\n"}]).ref, server, f"{project}/findme:v1")

    async def flow() -> None:
        api = client(server)
        info = await api.get_system_info()
        assert info.harbor_version and info.harbor_version.startswith("dockyard-")
        assert info.auth_mode == "db_auth" and info.registry_url == server.host_port
        health = await api.health_check()
        assert health.status == "healthy"
        assert {c.name for c in health.components or []} == {"core", "database"}
        found = await api.search(project)
        assert [p.name for p in found.project or []] == [project]
        assert [r.repository_name for r in found.repository or []] == [f"{project}/findme"]
        assert (found.repository or [])[0].artifact_count == 1

    asyncio.run(flow())
    anonymous = httpx.get(f"{server.url}/api/v2.0/search", params={"q": project}).json()
    assert anonymous == {"project": [], "repository": []}  # a private project stays hidden
    assert httpx.get(f"{server.url}/api/v2.0/health").json()["status"] == "healthy"
