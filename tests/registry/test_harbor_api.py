"""The Harbor-style /api/v2.0 subset with Harbor's field names and status codes."""

from __future__ import annotations

import httpx

from tests.conftest import DockyardServer
from tests.registry.test_protocol import push_image


def test_projects_crud_and_visibility(server: DockyardServer, admin: httpx.Client) -> None:
    created = admin.post(
        "/api/v2.0/projects", json={"project_name": "hb-proj", "metadata": {"public": "false"}}
    )
    assert created.status_code == 201 and created.headers["location"].startswith("/api/v2.0/projects/")
    assert admin.post("/api/v2.0/projects", json={"project_name": "hb-proj"}).status_code == 409
    assert admin.post("/api/v2.0/projects", json={"project_name": "Bad Name"}).status_code == 400
    assert admin.head("/api/v2.0/projects", params={"project_name": "hb-proj"}).status_code == 200
    assert admin.head("/api/v2.0/projects", params={"project_name": "nope"}).status_code == 404
    project = admin.get("/api/v2.0/projects/hb-proj").json()
    assert project["name"] == "hb-proj" and project["metadata"] == {"public": "false"}
    assert project["owner_name"] == "admin" and project["repo_count"] == 0
    assert admin.get(f"/api/v2.0/projects/{project['project_id']}").json()["name"] == "hb-proj"
    # Anonymous users see public projects only.
    anonymous = httpx.get(server.url + "/api/v2.0/projects").json()
    assert "hb-proj" not in [p["name"] for p in anonymous]
    assert httpx.get(server.url + "/api/v2.0/projects/hb-proj").status_code == 404
    assert httpx.get(server.url + "/api/v2.0/projects", auth=("admin", "wrong")).status_code == 401
    assert admin.put("/api/v2.0/projects/hb-proj", json={"metadata": {"public": "true"}}).status_code == 200
    assert "hb-proj" in [
        p["name"] for p in httpx.get(server.url + "/api/v2.0/projects", params={"page_size": 100}).json()
    ]
    assert admin.delete("/api/v2.0/projects/hb-proj").status_code == 200
    assert admin.get("/api/v2.0/projects/hb-proj").status_code == 404


def test_repositories_artifacts_and_tags(server: DockyardServer, admin: httpx.Client) -> None:
    digest = push_image(admin, "hb-art/team/app", "v1", b"harbor layer")
    admin.put(
        "/v2/hb-art/team/app/manifests/latest",
        content=admin.get(f"/v2/hb-art/team/app/manifests/{digest}").content,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    repos = admin.get("/api/v2.0/projects/hb-art/repositories").json()
    assert [(r["name"], r["artifact_count"]) for r in repos] == [("hb-art/team/app", 1)]
    assert {"id", "project_id", "pull_count", "creation_time", "update_time"} <= set(repos[0])
    encoded = "team%252Fapp"  # Harbor double-encodes nested repository names
    assert admin.get(f"/api/v2.0/projects/hb-art/repositories/{encoded}").json()["name"] == "hb-art/team/app"
    artifacts = admin.get(f"/api/v2.0/projects/hb-art/repositories/{encoded}/artifacts").json()
    assert len(artifacts) == 1
    artifact = artifacts[0]
    assert artifact["digest"] == digest and artifact["type"] == "IMAGE"
    assert artifact["manifest_media_type"] == "application/vnd.oci.image.manifest.v1+json"
    assert sorted(t["name"] for t in artifact["tags"]) == ["latest", "v1"]
    assert artifact["size"] > 0 and artifact["push_time"]
    tags_url = f"/api/v2.0/projects/hb-art/repositories/{encoded}/artifacts/{digest}/tags"
    assert admin.post(tags_url, json={"name": "stable"}).status_code == 201
    assert admin.post(tags_url, json={"name": "stable"}).status_code == 409
    assert sorted(t["name"] for t in admin.get(tags_url).json()) == ["latest", "stable", "v1"]
    assert admin.get("/v2/hb-art/team/app/manifests/stable").status_code == 200
    assert admin.delete(f"{tags_url}/stable").status_code == 200
    assert admin.get("/v2/hb-art/team/app/manifests/stable").status_code == 404
    # pulls are counted
    admin.get("/v2/hb-art/team/app/manifests/v1")
    repo = admin.get(f"/api/v2.0/projects/hb-art/repositories/{encoded}").json()
    assert repo["pull_count"] >= 1
    by_tag = admin.get(f"/api/v2.0/projects/hb-art/repositories/{encoded}/artifacts/v1").json()
    assert by_tag["digest"] == digest and by_tag["pull_time"]
    assert (
        admin.delete(f"/api/v2.0/projects/hb-art/repositories/{encoded}/artifacts/{digest}").status_code
        == 200
    )
    assert admin.get("/v2/hb-art/team/app/manifests/v1").status_code == 404
    assert admin.delete("/api/v2.0/projects/hb-art").status_code == 412  # still has a repository
    assert admin.delete(f"/api/v2.0/projects/hb-art/repositories/{encoded}").status_code == 200
    assert admin.delete("/api/v2.0/projects/hb-art").status_code == 200


def test_non_member_cannot_modify(server: DockyardServer, admin: httpx.Client) -> None:
    push_image(admin, "hb-guard/app", "v1", b"guarded")
    server.add_user("outsider", "outsiderpw")
    outsider = httpx.Client(base_url=server.url, auth=("outsider", "outsiderpw"))
    assert outsider.get("/api/v2.0/projects/hb-guard").status_code == 404
    assert outsider.delete("/api/v2.0/projects/hb-guard/repositories/app").status_code == 404
    # a non-administrator creates projects only in their own namespace (or an org they administer)
    refused = outsider.post("/api/v2.0/projects", json={"project_name": "outsider-proj"})
    assert refused.status_code == 403 and "only administrators" in refused.text
    assert outsider.post("/api/v2.0/projects", json={"project_name": "outsider"}).status_code == 201
    assert outsider.get("/api/v2.0/projects/outsider").json()["owner_name"] == "outsider"
