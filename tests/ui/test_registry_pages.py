"""Registry pages at Harbor's UI paths against a real `dockyard up`: projects, repositories,
artifacts with tags, config, layers and pull lines; deleting a tag after confirmation; private
projects answer 404 to others; hostile image configs render safely."""

from __future__ import annotations

import json

import httpx

from tests.ci.conftest import unique
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer
from tests.registry.test_protocol import OCI_MANIFEST, digest_of, image_manifest, upload_monolithic
from tests.ui.helpers import browser, form_token, post_form, sign_in

CONFIG = {
    "architecture": "amd64", "os": "linux", "created": "2026-01-02T03:04:05Z",
    "config": {"Entrypoint": ["python", "-m", "notes"], "WorkingDir": "/app",
               "Env": ["PATH=/usr/bin", "NOTES_MODE=ui-test"],
               "Labels": {"org.opencontainers.image.source": "notes-app"}},
    "rootfs": {"type": "layers", "diff_ids": []},
    "history": [{"created": "2026-01-02T03:04:05Z", "created_by": "COPY app.py /app/"}],
}


def push(client: httpx.Client, name: str, tags: list[str], config: dict, layer: bytes) -> str:
    raw = json.dumps(config).encode()
    for blob in (raw, layer):
        assert upload_monolithic(client, name, blob).status_code == 201
    manifest = image_manifest(raw, [layer])
    for tag in tags:
        r = client.put(f"/v2/{name}/manifests/{tag}", content=manifest,
                       headers={"Content-Type": OCI_MANIFEST})
        assert r.status_code == 201, r.text
    return digest_of(manifest)


def test_projects_artifact_page_and_delete_tag(server: DockyardServer) -> None:
    admin = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    project = unique("uiproj").replace("-", "")
    digest = push(admin, f"{project}/notes-app", ["v1", "latest"], CONFIG, b"layer-ui-1")
    hostile = push(admin, f"{project}/weird", ["x"], {"config": "not-an-object", "history": 5,
                                                     "os": ["l"]}, b"layer-ui-2")
    pid = admin.get(f"/api/v2.0/projects/{project}").json()["project_id"]

    c = sign_in(server)
    assert project in c.get("/harbor/projects").text
    repos = c.get(f"/harbor/projects/{pid}/repositories")
    assert repos.status_code == 200 and f"{project}/notes-app" in repos.text
    repo = c.get(f"/harbor/projects/{pid}/repositories/notes-app")
    assert repo.status_code == 200 and digest[:19] in repo.text
    assert "v1" in repo.text and "latest" in repo.text
    page_path = f"/harbor/projects/{pid}/repositories/notes-app/artifacts-tab/artifacts/{digest}"
    art = c.get(page_path)
    assert art.status_code == 200
    pull = f"podman pull {server.host_port}/{project}/notes-app"
    for expected in (digest, "python", "NOTES_MODE=ui-test", "org.opencontainers.image.source=notes-app",
                     "COPY app.py /app/", "linux/amd64", f"{pull}:v1", f"{pull}:latest", f"{pull}@{digest}",
                     digest_of(b"layer-ui-1")[:19]):
        assert expected in art.text, expected
    weird = c.get(f"/harbor/projects/{pid}/repositories/weird/artifacts-tab/artifacts/{hostile}")
    assert weird.status_code == 200
    # an image reference (as a build's push names it) resolves to the artifact page
    r = c.get("/harbor/-/image", params={"ref": f"{server.host_port}/{project}/notes-app:v1"})
    assert r.status_code == 303 and r.headers["location"] == page_path
    masked = c.get("/harbor/-/image", params={"ref": f"{server.host_port}/****/notes-app:v1",
                                              "digest": digest[:19]})  # a trace masks secrets
    assert masked.status_code == 303 and masked.headers["location"] == page_path
    elsewhere = c.get("/harbor/-/image", params={"ref": f"elsewhere.example/{project}/notes-app:v1"})
    assert elsewhere.status_code == 404

    # delete a tag: a confirmation page, then a POST with the form token
    confirm_path = f"/harbor/projects/{pid}/-/delete-tag?repository=notes-app&digest={digest}&tag=v1"
    assert "/-/delete-tag?repository=notes-app&amp;digest=sha256%3A" in art.text
    confirm = c.get(confirm_path)
    assert confirm.status_code == 200 and "Delete tag v1?" in confirm.text
    fields = {"repository": "notes-app", "digest": digest, "tag": "v1"}
    assert c.post(f"/harbor/projects/{pid}/-/delete-tag", data=fields).status_code == 403
    r = c.post(f"/harbor/projects/{pid}/-/delete-tag",
               data={**fields, "csrf_token": form_token(confirm.text)})
    assert r.status_code == 303
    tags = admin.get(f"/api/v2.0/projects/{project}/repositories/notes-app/artifacts/{digest}/tags").json()
    assert [t["name"] for t in tags] == ["latest"]
    assert admin.get(f"/v2/{project}/notes-app/manifests/v1").status_code == 404

    # the project is private: anonymous visitors and other users see nothing of it
    server.add_user("ui-reg-other", "other-password-2")
    for client in (browser(server), sign_in(server, "ui-reg-other", "other-password-2")):
        assert project not in client.get("/harbor/projects").text
        assert client.get(f"/harbor/projects/{pid}/repositories").status_code == 404
        assert client.get(page_path).status_code == 404
        assert client.get(f"/harbor/projects/{pid}/-/delete-tag?repository=notes-app&digest={digest}"
                          "&tag=latest").status_code in (303, 404)
        assert project not in client.get("/").text

    # public: readable by anyone, but only members may delete
    made_public = admin.put(f"/api/v2.0/projects/{project}", json={"metadata": {"public": "true"}})
    assert made_public.status_code == 200
    other = sign_in(server, "ui-reg-other", "other-password-2")
    page = other.get(page_path)
    assert page.status_code == 200 and "Delete…" not in page.text
    assert browser(server).get(page_path).status_code == 200
    token = form_token(other.get("/").text)
    r = other.post(f"/harbor/projects/{pid}/-/delete-tag",
                   data={**fields, "tag": "latest", "csrf_token": token})
    assert r.status_code == 403
    assert [t["name"] for t in admin.get(
        f"/api/v2.0/projects/{project}/repositories/notes-app/artifacts/{digest}/tags").json()] == ["latest"]


def test_five_hundred_tags_paginate(server: DockyardServer) -> None:
    admin = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    project = unique("uitags").replace("-", "")
    tags = [f"t{i:03d}" for i in range(500)]
    digest = push(admin, f"{project}/many", tags, CONFIG, b"layer-many-tags")
    pid = admin.get(f"/api/v2.0/projects/{project}").json()["project_id"]
    c = sign_in(server)
    path = f"/harbor/projects/{pid}/repositories/many/artifacts-tab/artifacts/{digest}"
    seen: set[str] = set()
    for page in range(1, 11):  # 50 tags a page
        html = c.get(path, params={"tags_page": page}).text
        shown = {t for t in tags if f'<span class="tag">{t}</span>' in html}
        assert len(shown) == 50, (page, len(shown))
        assert ("Next →" in html) == (page < 10)
        seen |= shown
    assert seen == set(tags)
    repo = c.get(f"/harbor/projects/{pid}/repositories/many").text
    assert "+492 more" in repo  # the artifact list shows a few tags and how many more


def test_add_tag_and_delete_artifact(server: DockyardServer) -> None:
    admin = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    project = unique("uiadd").replace("-", "")
    digest = push(admin, f"{project}/app", ["v1"], CONFIG, b"layer-add-tag")
    pid = admin.get(f"/api/v2.0/projects/{project}").json()["project_id"]
    c = sign_in(server)
    page = f"/harbor/projects/{pid}/repositories/app/artifacts-tab/artifacts/{digest}"
    fields = {"repository": "app", "digest": digest}
    r = post_form(c, page, f"/harbor/projects/{pid}/-/add-tag", {**fields, "tag": "stable"})
    assert r.status_code == 303 and "Tag stable added" in c.get(r.headers["location"]).text
    assert admin.get(f"/v2/{project}/app/manifests/stable",
                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).status_code == 200
    bad = post_form(c, page, f"/harbor/projects/{pid}/-/add-tag", {**fields, "tag": "-bad tag"})
    assert bad.status_code == 400 and "invalid tag name" in bad.text
    taken = post_form(c, page, f"/harbor/projects/{pid}/-/add-tag", {**fields, "tag": "v1"})
    assert taken.status_code == 409
    confirm = f"/harbor/projects/{pid}/-/delete-artifact?repository=app&digest={digest}"
    assert "Delete this artifact?" in c.get(confirm).text
    r = post_form(c, confirm, f"/harbor/projects/{pid}/-/delete-artifact", fields)
    assert r.status_code == 303 and r.headers["location"] == f"/harbor/projects/{pid}/repositories/app"
    assert c.get(page).status_code == 404
    assert admin.get(f"/v2/{project}/app/manifests/v1").status_code == 404


def test_project_visibility_by_its_admins(server: DockyardServer) -> None:
    admin = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    project = unique("uivis").replace("-", "")
    push(admin, f"{project}/app", ["v1"], CONFIG, b"layer-visibility")
    pid = admin.get(f"/api/v2.0/projects/{project}").json()["project_id"]
    page = f"/harbor/projects/{pid}/repositories"
    assert browser(server).get(page).status_code == 404
    c = sign_in(server)
    r = post_form(c, page, f"/harbor/projects/{pid}/-/visibility", {"public": "true"})
    assert r.status_code == 303
    assert admin.get(f"/api/v2.0/projects/{project}").json()["metadata"]["public"] == "true"
    assert browser(server).get(page).status_code == 200  # the API's visibility rule, now public
    server.add_user("ui-vis-other", "vis-password-1")
    other = sign_in(server, "ui-vis-other", "vis-password-1")
    assert "Make private" not in other.get(page).text
    refused = post_form(other, page, f"/harbor/projects/{pid}/-/visibility", {"public": "false"})
    assert refused.status_code == 403
    assert post_form(c, page, f"/harbor/projects/{pid}/-/visibility", {"public": "false"}).status_code == 303
    assert browser(server).get(page).status_code == 404
