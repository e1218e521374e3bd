"""Harbor's `/api/v2.0/systeminfo`, `/api/v2.0/health` and `/api/v2.0/search`, in Harbor's
shapes (GeneralInfo, OverallHealthStatus, Search) so scripts and harborapi that probe a Harbor
before using it find one. Search shows only what the caller may see, as the project list does."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard import __version__
from dockyard.auth import Principal
from dockyard.registry.harbor import HarborAPI

SEARCH_LIMIT = 100


class SystemAPI:
    def __init__(self, harbor: HarborAPI, public_url: str | None, storage_url: str) -> None:
        self.harbor = harbor
        self.public_url = public_url
        self.storage = storage_url.split("://", 1)[0] or "file"

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v2.0/systeminfo", self.harbor.endpoint(self._systeminfo), methods=["GET"]),
            Route("/api/v2.0/health", self.harbor.endpoint(self._health), methods=["GET"]),
            Route("/api/v2.0/search", self.harbor.endpoint(self._search), methods=["GET"]),
        ]

    async def _systeminfo(self, request: Request, principal: Principal) -> Response:
        url = self.public_url or f"{request.url.scheme}://{request.headers.get('host', '')}"
        return JSONResponse({
            "current_time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "registry_url": url.split("://", 1)[-1],
            "external_url": url,
            "auth_mode": "db_auth",
            "primary_auth_mode": False,
            "project_creation_restriction": "everyone",
            "self_registration": False,
            "has_ca_root": False,
            "harbor_version": f"dockyard-{__version__}",
            "registry_storage_provider_name": "filesystem" if self.storage == "file" else self.storage,
            "read_only": False,
            "notification_enable": False,
            "with_chartmuseum": False,
            "banner_message": "",
        })

    async def _health(self, request: Request, principal: Principal) -> Response:
        """Harbor's OverallHealthStatus: the core answers; the database is asked."""
        components = [{"name": "core", "status": "healthy"}]
        try:
            await run_in_threadpool(self.harbor.metadata.db.row, "SELECT 1 AS ok")
            components.append({"name": "database", "status": "healthy"})
        except SQLAlchemyError as exc:  # the driver's words name the cause (no URL in them)
            cause = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            components.append({"name": "database", "status": "unhealthy",
                               "error": f"{type(exc).__name__}: {cause}"})
        healthy = all(c["status"] == "healthy" for c in components)
        return JSONResponse({"status": "healthy" if healthy else "unhealthy", "components": components})

    async def _search(self, request: Request, principal: Principal) -> Response:
        query = request.query_params.get("q", "").strip().lower()
        projects = [p for p in self.harbor.metadata.list_projects() if self.harbor._can_see(principal, p)]
        found_projects = [self.harbor._project_json(p) for p in projects if query in p.name][:SEARCH_LIMIT]
        repositories: list[dict[str, Any]] = []
        for project in projects:
            for repository in self.harbor.metadata.list_repositories(project.id):
                if query in repository.name and len(repositories) < SEARCH_LIMIT:
                    repositories.append({
                        "project_id": project.id,
                        "project_name": project.name,
                        "project_public": project.public,
                        "repository_name": repository.name,
                        "pull_count": repository.pull_count,
                        "artifact_count": len(self.harbor._top_level(repository)),
                    })
        return JSONResponse({"project": found_projects, "repository": repositories})
