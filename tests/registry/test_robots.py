"""Harbor robot accounts against a real server: made with harborapi (PyPI) and plain HTTP, then
used by skopeo and oras-py with the robot's `robot$...` login. A robot gets exactly its grants
through the registry's one permission check; disabling, expiring, deleting or refreshing its
secret stops its logins and the registry tokens it already holds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dockyard.store import Database
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer
from tests.images import make_layout
from tests.registry.conftest import module_server, push, skopeo

harborapi = pytest.importorskip("harborapi", reason="harborapi is in the dev extra")
oras_provider = pytest.importorskip("oras.provider")


server = module_server("robots")


@pytest.fixture(scope="module")
def admin(server: DockyardServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def make_project(admin: httpx.Client, name: str) -> None:
    assert admin.post("/api/v2.0/projects", json={"project_name": name}).status_code == 201


def push_robot(admin: httpx.Client, name: str, namespace: str, *actions: str, level: str = "system",
               path: str = "/api/v2.0/robots") -> dict:
    body = {"name": name, "level": level, "duration": -1, "permissions": [
        {"kind": "project", "namespace": namespace,
         "access": [{"resource": "repository", "action": a} for a in actions]}]}
    created = admin.post(path, json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def skopeo_push(server: DockyardServer, layout_ref: str, target: str, creds: str, ok: bool) -> str:
    result = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, layout_ref,
                    f"docker://{server.host_port}/{target}", check=False)
    assert (result.returncode == 0) == ok, result.stderr
    return result.stderr


def test_harborapi_robot_pushes_with_skopeo_and_oras_to_its_project_only(
        server: DockyardServer, admin: httpx.Client, tmp_path: Path) -> None:
    from harborapi.models import Access, RobotCreate, RobotPermission

    granted, other = unique("rob-a"), unique("rob-b")
    make_project(admin, granted)
    make_project(admin, other)

    async def create() -> tuple[int, str, str]:
        client = harborapi.HarborAsyncClient(url=f"{server.url}/api/v2.0", username=ADMIN_USER,
                                             secret=ADMIN_PASSWORD)
        created = await client.create_robot(RobotCreate(
            name=f"ci-{granted}", level="system", duration=-1, description="CI pushes",
            permissions=[RobotPermission(kind="project", namespace=granted, access=[
                Access(resource="repository", action="pull"),
                Access(resource="repository", action="push")])]))
        assert created.name == f"robot$ci-{granted}" and created.secret and created.expires_at == -1
        robots = await client.get_robots(limit=None)
        listed = next(r for r in robots if r.id == created.id)
        assert listed.secret is None and listed.level == "system" and listed.duration == -1
        assert listed.permissions is not None and listed.permissions[0].namespace == granted
        assert {a.action for a in listed.permissions[0].access or []} == {"pull", "push"}
        one = await client.get_robot(created.id)
        assert one.name == created.name and one.secret is None and not one.disable
        assert created.id is not None and created.name is not None and created.secret is not None
        return created.id, created.name, created.secret

    robot_id, name, secret = asyncio.run(create())
    creds = f"{name}:{secret}"
    layout = make_layout(tmp_path / "img", layers=[{"robot": b"robot layer\n"}])
    skopeo_push(server, layout.ref, f"{granted}/app:v1", creds, ok=True)
    refused = skopeo_push(server, layout.ref, f"{other}/app:v1", creds, ok=False)
    assert "denied" in refused.lower() or "403" in refused
    skopeo_push(server, layout.ref, f"{granted}/app:v2", f"{name}:wrong{secret}", ok=False)
    assert admin.get(f"/v2/{granted}/app/tags/list").json()["tags"] == ["v1"]
    assert admin.get(f"/v2/{other}/app/tags/list").status_code == 404

    # oras-py with the same login: its own project yes, the other no
    oras = oras_provider.Registry(hostname=server.host_port, insecure=True)
    oras.login(username=name, password=secret, hostname=server.host_port,
               config_path=str(tmp_path / "docker-config.json"))
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"pushed by a robot\n")
    pushed = oras.push(files=[str(notes)], target=f"{server.host_port}/{granted}/notes:v1",
                       disable_path_validation=True)
    assert pushed.status_code == 201, pushed.text
    with pytest.raises(Exception, match="(?i)denied|403|unauthorized|authentication"):
        oras.push(files=[str(notes)], target=f"{server.host_port}/{other}/notes:v1",
                  disable_path_validation=True)
    assert admin.get(f"/v2/{other}/notes/tags/list").status_code == 404
    assert secret not in server.log()

    async def read_as_robot() -> None:  # harborapi with the robot's login: its project only
        from harborapi.exceptions import NotFound

        client = harborapi.HarborAsyncClient(url=f"{server.url}/api/v2.0", username=name, secret=secret)
        repositories = {r.name for r in await client.get_repositories(granted)}
        assert repositories == {f"{granted}/app", f"{granted}/notes"}
        visible = {p.name for p in await client.get_projects(limit=None)}
        assert granted in visible and other not in visible
        with pytest.raises(NotFound):
            await client.get_project(other)

    asyncio.run(read_as_robot())
    assert "secret" not in admin.get(f"/api/v2.0/robots/{robot_id}").json()


def test_project_robot_of_a_project_admin_pull_only(
        server: DockyardServer, admin: httpx.Client, tmp_path: Path) -> None:
    """A user makes a pull-only robot in their own project: it pulls, its push is denied, and
    the user cannot give a robot another user's project nor make a system robot."""
    user = unique("owner")
    server.add_user(user, "ownerpw")
    private = unique("rob-private")
    make_project(admin, private)
    layout = make_layout(tmp_path / "img", layers=[{"pull": b"pull only\n"}])
    with server.client(user, "ownerpw") as owner:
        assert owner.post("/api/v2.0/projects", json={"project_name": user}).status_code == 201
        push(layout.ref, server, f"{user}/app:v1", creds=f"{user}:ownerpw")
        robot = push_robot(owner, "puller", user, "pull", level="project",
                           path=f"/api/v2.0/projects/{user}/robots")
        assert robot["name"] == f"robot${user}+puller"
        listed = owner.get(f"/api/v2.0/projects/{user}/robots").json()
        assert [r["name"] for r in listed] == [robot["name"]]
        assert [r["name"] for r in owner.get("/api/v2.0/robots").json()] == [robot["name"]]
        # another's project: invisible (404) as the project itself is; system robots: 403
        body = {"name": "sneaky", "level": "project", "duration": -1, "permissions": [
            {"kind": "project", "namespace": private,
             "access": [{"resource": "repository", "action": "push"}]}]}
        assert owner.post("/api/v2.0/robots", json=body).status_code == 404
        assert owner.post(f"/api/v2.0/projects/{private}/robots", json=body).status_code == 404
        body_in_own = {**body, "permissions": [{**body["permissions"][0], "namespace": private}]}
        assert owner.post(f"/api/v2.0/projects/{user}/robots", json=body_in_own).status_code in (400, 404)
        assert owner.post("/api/v2.0/robots", json={**body, "level": "system"}).status_code == 403
        # Harbor v1's shape on the project path: access resources /project/<id>/<resource>
        project_id = owner.get(f"/api/v2.0/projects/{user}").json()["project_id"]
        v1 = owner.post(f"/api/v2.0/projects/{user}/robots", json={"name": "v1pull", "access": [
            {"resource": f"/project/{project_id}/repository", "action": "pull"}]})
        assert v1.status_code == 201 and v1.json()["name"] == f"robot${user}+v1pull", v1.text
        assert owner.get(f"/api/v2.0/robots/{v1.json()['id']}").json()["permissions"] == [
            {"kind": "project", "namespace": user,
             "access": [{"resource": "repository", "action": "pull", "effect": "allow"}]}]
        v1_elsewhere = owner.post(f"/api/v2.0/projects/{user}/robots", json={"name": "v1bad", "access": [
            {"resource": f"/project/{project_id + 1000}/repository", "action": "push"}]})
        assert v1_elsewhere.status_code == 400
    system = push_robot(admin, unique("sys"), private, "pull")
    with server.client(user, "ownerpw") as owner:
        assert owner.get(f"/api/v2.0/robots/{system['id']}").status_code == 403
        assert owner.delete(f"/api/v2.0/robots/{system['id']}").status_code == 403
    creds = f"{robot['name']}:{robot['secret']}"
    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", "--src-creds", creds,
           f"docker://{server.host_port}/{user}/app:v1", f"oci:{out}:v1")
    refused = skopeo_push(server, layout.ref, f"{user}/app:v2", creds, ok=False)
    assert "denied" in refused.lower() or "403" in refused
    assert skopeo("inspect", "--tls-verify=false", "--creds", creds,
                  f"docker://{server.host_port}/{private}/app:v1", check=False).returncode != 0


def _token(server: DockyardServer, creds: tuple[str, str], scope: str) -> dict:
    answer = httpx.get(f"{server.url}/service/token", auth=creds,
                       params={"service": "dockyard-registry", "scope": scope, "offline_token": "true"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _tags(server: DockyardServer, repo: str, token: str) -> int:
    return httpx.get(f"{server.url}/v2/{repo}/tags/list",
                     headers={"Authorization": f"Bearer {token}"}).status_code


def _refresh(server: DockyardServer, refresh_token: str, scope: str) -> int:
    return httpx.post(f"{server.url}/service/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh_token, "service": "dockyard-registry",
        "scope": scope}).status_code


def test_disable_refresh_delete_and_expiry_stop_a_robot_at_once(
        server: DockyardServer, admin: httpx.Client, tmp_path: Path) -> None:
    project = unique("rob-life")
    make_project(admin, project)
    layout = make_layout(tmp_path / "img", layers=[{"life": b"life\n"}])
    push(layout.ref, server, f"{project}/app:v1")
    robot = push_robot(admin, unique("life"), project, "pull", "push")
    creds = (robot["name"], robot["secret"])
    scope = f"repository:{project}/app:pull"
    token = _token(server, creds, scope)
    assert _tags(server, f"{project}/app", token["token"]) == 200
    assert _refresh(server, token["refresh_token"], scope) == 200

    # disabled: its login, its access token and its refresh token all stop; enabled again: back
    assert admin.put(f"/api/v2.0/robots/{robot['id']}", json={"disable": True}).status_code == 200
    assert _tags(server, f"{project}/app", token["token"]) == 401
    assert _refresh(server, token["refresh_token"], scope) == 401
    assert httpx.get(f"{server.url}/v2/{project}/app/tags/list", auth=creds).status_code == 401
    assert admin.put(f"/api/v2.0/robots/{robot['id']}", json={"disable": False}).status_code == 200
    assert _tags(server, f"{project}/app", token["token"]) == 200

    # a refreshed secret: the old one and its tokens stop, the new one works
    refreshed = admin.patch(f"/api/v2.0/robots/{robot['id']}", json={})
    assert refreshed.status_code == 200 and refreshed.json()["secret"] != robot["secret"]
    assert httpx.get(f"{server.url}/v2/{project}/app/tags/list", auth=creds).status_code == 401
    assert _tags(server, f"{project}/app", token["token"]) == 401
    creds = (robot["name"], refreshed.json()["secret"])
    assert httpx.get(f"{server.url}/v2/{project}/app/tags/list", auth=creds).status_code == 200
    chosen = admin.patch(f"/api/v2.0/robots/{robot['id']}", json={"secret": "Chosen-Secret-42"})
    assert chosen.status_code == 200 and "Chosen" not in chosen.text
    assert admin.patch(f"/api/v2.0/robots/{robot['id']}", json={"secret": "weak"}).status_code == 400
    creds = (robot["name"], "Chosen-Secret-42")
    token = _token(server, creds, scope)

    # expired (its row says so, as it would after `duration` days)
    db = Database(server.database())
    try:
        db.write("UPDATE registry_robots SET expires_at = 1 WHERE id = :i", i=robot["id"])
        assert httpx.get(f"{server.url}/v2/{project}/app/tags/list", auth=creds).status_code == 401
        assert _tags(server, f"{project}/app", token["token"]) == 401
        db.write("UPDATE registry_robots SET expires_at = -1 WHERE id = :i", i=robot["id"])
    finally:
        db.engine.dispose()
    assert _tags(server, f"{project}/app", token["token"]) == 200

    # a permission taken away by PUT: the next login gets only what is left
    narrowed = admin.put(f"/api/v2.0/robots/{robot['id']}", json={"permissions": [
        {"kind": "project", "namespace": project, "access": [{"resource": "repository", "action": "pull"}]}]})
    assert narrowed.status_code == 200
    again = _token(server, creds, f"repository:{project}/app:pull,push")
    assert again["token"] and _granted(again) == ["pull"]

    # deleted: gone at once
    assert admin.delete(f"/api/v2.0/robots/{robot['id']}").status_code == 200
    assert _tags(server, f"{project}/app", token["token"]) == 401
    assert httpx.get(f"{server.url}/v2/{project}/app/tags/list", auth=creds).status_code == 401
    assert admin.get(f"/api/v2.0/robots/{robot['id']}").status_code == 404


def _granted(body: dict) -> list[str]:
    import base64
    import json

    payload = body["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return list(claims["access"][0]["actions"])


def test_a_deleted_project_takes_its_grants_along(server: DockyardServer, admin: httpx.Client) -> None:
    """A grant names its project by id: a project made again under the same name is not the robot's."""
    project = unique("rob-gone")
    make_project(admin, project)
    robot = push_robot(admin, unique("gone"), project, "pull", "push")
    assert admin.delete(f"/api/v2.0/projects/{project}").status_code == 200
    make_project(admin, project)
    token = _token(server, (robot["name"], robot["secret"]), f"repository:{project}/app:pull,push")
    assert _granted(token) == []
    assert admin.get(f"/api/v2.0/robots/{robot['id']}").json()["permissions"] == []


@pytest.mark.parametrize("body", [
    {"name": "a$b"}, {"name": "a+b"}, {"name": "../x"}, {"name": "UPPER"}, {"name": ""}, {"name": 5},
    {"name": "x" * 300},
    {"name": "ok", "level": "galaxy"},
    {"name": "ok", "duration": 0}, {"name": "ok", "duration": "10"}, {"name": "ok", "duration": 10**12},
    {"name": "ok", "permissions": "all"}, {"name": "ok", "permissions": []},
    {"name": "ok", "permissions": [["x"]]},
    {"name": "ok", "permissions": [{"kind": "system", "namespace": "/", "access": []}]},
    {"name": "ok", "permissions": [{"kind": "project", "namespace": "library", "access": [
        {"resource": "everything", "action": "push"}]}]},
    {"name": "ok", "permissions": [{"kind": "project", "namespace": "library", "access": [
        {"resource": "repository", "action": "rm -rf"}]}]},
    {"name": "ok", "permissions": [{"kind": "project", "namespace": "library", "access": [
        {"resource": "repository", "action": "push", "effect": "deny"}]}]},
    {"name": "ok", "permissions": [{"kind": "project", "namespace": "library", "access": [
        {"resource": "repository", "action": "push"}] * 101}]},
    {"name": "ok", "secret": "short"},
    {"name": "ok", "disable": "yes"},
])
def test_hostile_robot_bodies_are_4xx(admin: httpx.Client, body: dict) -> None:
    body = {"level": "system", "duration": -1, "permissions": [{"kind": "project", "namespace": "*",
            "access": [{"resource": "repository", "action": "pull"}]}], **body}
    answer = admin.post("/api/v2.0/robots", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["message"]


def test_hostile_robot_requests_never_500(server: DockyardServer, admin: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    nested = "[" * 5000 + "]" * 5000
    for raw in ("{", "null", "[]", '"x"', nested, '{"name": "ok", "permissions": ' + nested + "}"):
        answer = admin.post("/api/v2.0/robots", content=raw, headers=headers)
        assert 400 <= answer.status_code < 500, (raw[:40], answer.status_code, answer.text[:200])
    huge = admin.post("/api/v2.0/robots", content=b'{"name": "' + b"a" * (2 << 20) + b'"}', headers=headers)
    assert huge.status_code == 413
    assert admin.post("/api/v2.0/robots", json={"name": "nowhere", "level": "system", "permissions": [
        {"kind": "project", "namespace": "no-such-project",
         "access": [{"resource": "repository", "action": "push"}]}]}).status_code == 404
    for path in ("/api/v2.0/robots/abc", "/api/v2.0/robots/99999999999999999999999",
                 "/api/v2.0/robots/-1", "/api/v2.0/robots/999999"):
        assert admin.get(path).status_code == 404
    assert admin.get("/api/v2.0/robots", params={"q": "ProjectID=x"}).status_code == 400
    anonymous = httpx.post(f"{server.url}/api/v2.0/robots", json={"name": "anon"})
    assert anonymous.status_code == 401
    # a robot login is not a user: it reads the Harbor API, never writes it (no robot made by
    # a robot, no project), and the Gitea API does not know it
    robot = push_robot(admin, unique("nested"), "*", "pull")
    creds = (robot["name"], robot["secret"])
    assert httpx.get(f"{server.url}/api/v2.0/robots", auth=creds).json() == []
    assert httpx.post(f"{server.url}/api/v2.0/robots", auth=creds, json={"name": "child"}).status_code == 403
    assert httpx.post(f"{server.url}/api/v2.0/projects", auth=creds,
                      json={"project_name": unique("byrobot")}).status_code == 403
    assert httpx.get(f"{server.url}/api/v1/user", auth=creds).status_code == 401
    again = admin.post("/api/v2.0/robots", json={"name": robot["name"].removeprefix("robot$"),
                                                  "level": "system", "permissions": [
        {"kind": "project", "namespace": "*", "access": [{"resource": "repository", "action": "pull"}]}]})
    assert again.status_code == 409
