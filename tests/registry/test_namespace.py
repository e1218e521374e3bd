"""One namespace for users, orgs and registry projects (issue 10, reproductions 3 and 12's HEAD).

Real `dockyard up`, real skopeo and curl: a name taken by any of them is refused by the others,
non-administrators create registry projects only in their own namespace or an org they
administer, an org named like a registry project is refused to non-administrators (an
administrator's user or org of that name adopts it), `library` is public,
and an anonymous HEAD does not reveal a private project.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, REPO_ROOT, DockyardServer
from tests.git.conftest import client, create_user, unique
from tests.images import make_layout
from tests.registry.conftest import push, skopeo


def curl(*args: str) -> tuple[int, str]:
    """(status, body) of one real curl request."""
    proc = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *args],
                          capture_output=True, text=True, timeout=60, check=True)
    body, _, status = proc.stdout.rpartition("\n")
    return int(status), body


def test_org_named_like_a_project_is_refused_and_gets_no_access(
    server: DockyardServer, tmp_path: Path
) -> None:
    project = unique("proj")
    layout = make_layout(tmp_path / "img", layers=[{"secret": b"private\n"}])
    push(layout.ref, server, f"{project}/app:v1")  # an administrator's private project
    mallory = create_user(server, "mallory")
    creds = f"{mallory.username}:{mallory.password}"
    status, body = curl("-u", creds, "-H", "Content-Type: application/json",
                        "-d", f'{{"username": "{project}"}}', f"{server.url}/api/v1/orgs")
    assert status == 422 and "already taken by a registry project" in body, body
    target = f"docker://{server.host_port}/{project}/app:v1"
    pulled = skopeo("inspect", "--tls-verify=false", "--creds", creds, target, check=False)
    said = pulled.stderr.lower()
    assert pulled.returncode != 0 and ("denied" in said or "unauthorized" in said), said
    other = make_layout(tmp_path / "other", layers=[{"x": b"mallory\n"}])
    pushed = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, other.ref, target, check=False)
    assert pushed.returncode != 0
    status, _ = curl("-u", creds, "-X", "DELETE",
                     f"{server.url}/api/v2.0/projects/{project}/repositories/app")
    assert status in (403, 404)
    # an administrator creating the user of that name adopts the project (as the tutorial's
    # images may exist before user bootcamp does): the user owns it, mallory still gets nothing
    with server.client() as admin:
        made = admin.post("/api/v1/admin/users", json={"username": project, "password": "pw-12345678"})
        assert made.status_code == 201, made.text
        again = admin.post("/api/v1/admin/users", json={"username": project.upper(), "password": "pw-1"})
        assert again.status_code == 422 and "already exists" in again.text
    owner = f"{project}:pw-12345678"
    assert skopeo("inspect", "--tls-verify=false", "--creds", owner, target, check=False).returncode == 0
    mine = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", owner, other.ref,
                  f"docker://{server.host_port}/{project}/app:v2", check=False)
    assert mine.returncode == 0, mine.stderr
    assert skopeo("inspect", "--tls-verify=false", "--creds", creds, target, check=False).returncode != 0
    status, body = curl("-u", creds, "-H", "Content-Type: application/json",
                        "-d", f'{{"username": "{project}"}}', f"{server.url}/api/v1/orgs")
    assert status == 422 and "already taken by a user" in body, body
    # `dockyard user add` (an administrator's command) adopts the same way
    second = unique("proj")
    push(layout.ref, server, f"{second}/app:v1")
    cli = subprocess.run([*server.command("user"), "add", second, "--password", "pw"],
                         capture_output=True, text=True, cwd=REPO_ROOT)
    assert cli.returncode == 0, cli.stderr
    assert skopeo("inspect", "--tls-verify=false", "--creds", f"{second}:pw",
                  f"docker://{server.host_port}/{second}/app:v1", check=False).returncode == 0


def test_projects_only_in_own_namespace_or_administered_org(server: DockyardServer, tmp_path: Path) -> None:
    alice, mallory = create_user(server, "alice"), create_user(server, "mallory")
    as_mallory = ("-u", f"{mallory.username}:{mallory.password}", "-H", "Content-Type: application/json")

    def create_project(user: tuple[str, ...], name: str) -> tuple[int, str]:
        return curl(*user, "-d", f'{{"project_name": "{name}"}}', f"{server.url}/api/v2.0/projects")

    status, body = create_project(as_mallory, alice.username)  # squatting alice's namespace
    assert status == 403 and "another user's namespace" in body, body
    status, body = create_project(as_mallory, unique("free"))  # a free name: an admin's call
    assert status == 403 and "only administrators" in body
    assert create_project(as_mallory, mallory.username)[0] == 201  # her own name
    org = unique("org")
    with client(server, alice) as c:
        assert c.post("/api/v1/orgs", json={"username": org}).status_code == 201
        assert c.put(f"/api/v1/orgs/{org}/members/{mallory.username}").status_code in (204, 200)
    assert create_project(as_mallory, org)[0] == 403  # a member, not an administrator of the org
    as_alice = ("-u", f"{alice.username}:{alice.password}", "-H", "Content-Type: application/json")
    assert create_project(as_alice, org)[0] == 201
    # push-creates-project follows the same rule, with real skopeo
    layout = make_layout(tmp_path / "img", layers=[{"a": b"alice\n"}])
    push(layout.ref, server, f"{alice.username}/app:v1", creds=f"{alice.username}:{alice.password}")
    squat = skopeo("copy", "--dest-tls-verify=false", "--dest-creds",
                   f"{mallory.username}:{mallory.password}", layout.ref,
                   f"docker://{server.host_port}/{unique('free')}/app:v1", check=False)
    assert squat.returncode != 0
    with server.client() as admin:
        project = admin.get(f"/api/v2.0/projects/{alice.username}").json()
        assert project["metadata"]["public"] == "false" and project["owner_name"] == alice.username
        # an administrator's stand-alone project claims its name from other users' orgs; an
        # administrator's org of that name adopts it
        free, adopted = unique("standalone"), unique("adopted")
        for name in (free, adopted):
            assert admin.post("/api/v2.0/projects", json={"project_name": name}).status_code == 201
            with client(server, alice) as c:
                taken = c.post("/api/v1/orgs", json={"username": name})
            assert taken.status_code == 422 and "registry project" in taken.text
        assert admin.post("/api/v1/orgs", json={"username": adopted}).status_code == 201
        assert admin.post("/api/v2.0/projects", json={"project_name": adopted}).status_code == 409
        # and users and orgs from each other, whatever the case
        clash = admin.post("/api/v1/orgs", json={"username": alice.username.upper()})
        assert clash.status_code == 422 and "already taken by a user" in clash.text
        clash = admin.post("/api/v1/admin/users", json={"username": org, "password": "pw-12345678"})
        assert clash.status_code == 422 and "already taken by an organization" in clash.text
        # deleting a stand-alone project frees its name
        assert admin.delete(f"/api/v2.0/projects/{free}").status_code == 200
        assert admin.post("/api/v1/orgs", json={"username": free}).status_code == 201


def test_library_is_public_and_head_hides_private_projects(server: DockyardServer, tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "img", layers=[{"l": b"library\n"}])
    push(layout.ref, server, "library/base:v1")  # created by the push, public as Harbor's
    anonymous = skopeo("inspect", "--tls-verify=false", "--no-creds",
                       f"docker://{server.host_port}/library/base:v1", check=False)
    assert anonymous.returncode == 0, anonymous.stderr
    private = unique("hidden")
    push(layout.ref, server, f"{private}/app:v1")
    url = f"{server.url}/api/v2.0/projects?project_name="
    assert curl("-I", url + private)[0] == 404  # anonymous: as if absent
    assert curl("-I", url + "library")[0] == 200  # public: visible anyway
    assert curl("-I", url + unique("absent"))[0] == 404
    assert curl("-I", "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}", url + private)[0] == 200
