"""harborapi (PyPI), unchanged, against a real `dockyard up`'s /api/v2.0: the everyday flow of a
Harbor script - create a project, list projects, repositories, artifacts and tags. harborapi
validates every answer with Harbor's pydantic models, so a field of the wrong shape fails here."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer
from tests.registry.conftest import module_server
from tests.registry.test_protocol import push_image

harborapi = pytest.importorskip("harborapi", reason="harborapi is in the dev extra")


server = module_server("harborapi")


def test_everyday_flow(server: DockyardServer) -> None:
    from harborapi.models import ProjectMetadata, ProjectReq

    name = f"hapi-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30) as c:
        digest = push_image(c, f"{name}-seed/team/app", "v1", b"harborapi layer")

    async def flow() -> None:
        client = harborapi.HarborAsyncClient(url=f"{server.url}/api/v2.0",
                                             username=ADMIN_USER, secret=ADMIN_PASSWORD)
        location = await client.create_project(ProjectReq(
            project_name=name, metadata=ProjectMetadata(public="false")))
        assert location.startswith("/api/v2.0/projects/")
        assert await client.project_exists(name)
        assert not await client.project_exists(f"{name}-absent")
        project = await client.get_project(name)
        assert project.name == name and project.metadata is not None
        assert project.metadata.public == "false"
        projects = await client.get_projects(limit=None)
        assert {name, f"{name}-seed"} <= {p.name for p in projects}

        seed = f"{name}-seed"
        repos = await client.get_repositories(seed)
        assert [(r.name, r.artifact_count) for r in repos] == [(f"{seed}/team/app", 1)]
        everywhere = await client.get_repositories(limit=None)
        assert f"{seed}/team/app" in {r.name for r in everywhere}
        repo = await client.get_repository(seed, "team/app")
        assert repo.name == f"{seed}/team/app"
        artifacts = await client.get_artifacts(seed, "team/app")
        assert [a.digest for a in artifacts] == [digest]
        assert artifacts[0].tags is not None and [t.name for t in artifacts[0].tags] == ["v1"]
        artifact = await client.get_artifact(seed, "team/app", "v1")
        assert artifact.digest == digest and (artifact.size or 0) > 0
        tags = await client.get_artifact_tags(seed, "team/app", digest)
        assert [t.name for t in tags] == ["v1"]

    asyncio.run(flow())
    with httpx.Client(base_url=server.url) as anonymous:  # a private project's stay hidden
        listed = anonymous.get("/api/v2.0/repositories", params={"q": f"name=~{name}"})
        assert listed.status_code == 200 and listed.json() == []
    with httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD)) as c:
        listed = c.get("/api/v2.0/repositories", params={"q": f"name=~{name}"})
        assert [r["name"] for r in listed.json()] == [f"{name}-seed/team/app"]


def test_paged_listing_keeps_the_filter(server: DockyardServer) -> None:
    """harborapi follows Harbor's `Link: <...>; rel="next"` as given: a link that dropped the
    `name` filter handed it every project from the second page on."""
    from harborapi.models import ProjectReq

    prefix = f"pg{uuid.uuid4().hex[:6]}"

    async def flow() -> None:
        client = harborapi.HarborAsyncClient(url=f"{server.url}/api/v2.0",
                                             username=ADMIN_USER, secret=ADMIN_PASSWORD)
        wanted = {f"{prefix}-{i:02d}" for i in range(13)}
        for name in [*sorted(wanted), *(f"{prefix}x{i:02d}" for i in range(12))]:
            await client.create_project(ProjectReq(project_name=name))
        found = await client.get_projects(name=f"{prefix}-", page_size=5, limit=None)
        assert sorted(p.name for p in found) == sorted(wanted)

    asyncio.run(flow())
    with httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD)) as c:
        link = c.get("/api/v2.0/projects", params={"name": prefix, "page": 2, "page_size": 5})
        assert 'rel="prev"' in link.headers["link"] and 'rel="next"' in link.headers["link"]
        assert f"name={prefix}" in link.headers["link"]
