"""The home page: recent builds, repositories and images the visitor may see, each through its
component's own read check (CI's visible_jobs, git's RepoService.role, the registry's Access)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth import Principal, Role
from dockyard.ui.pushes import PushLog
from dockyard.ui.web import Visitor, Web

JENKINS_VERSION = "2.462.3"  # the same X-Jenkins the CI API sends: Jenkins clients detect the server
RECENT = 12


@dataclass
class Components:
    """The components whose public services pages read (passed in by the server)."""

    git: Any  # dockyard.git.GitServer
    ci: Any  # dockyard.ci.service.CIService
    registry: Any  # dockyard.registry.Registry


def recent_builds(ci: Any, principal: Principal, limit: int = RECENT) -> list[Any]:
    if principal.is_anonymous:  # the CI API answers anonymous callers 401: so do its pages
        return []
    builds = [b for job in ci.visible_jobs(principal) for b in ci.store.builds(job.name, limit)]
    builds.sort(key=lambda b: b.queued_at, reverse=True)
    return builds[:limit]


def recent_repos(git: Any, principal: Principal, limit: int = RECENT) -> list[Any]:
    repos = [r for r in git.repos.find() if git.repos.role(principal, r) >= Role.READ]
    repos.sort(key=lambda r: r.created_at, reverse=True)
    return repos[:limit]


def recent_images(registry: Any, principal: Principal, limit: int = RECENT) -> list[Any]:
    repositories = [r for r in registry.metadata.list_repositories()
                    if "pull" in registry.access.permitted(principal, r.name)]
    repositories.sort(key=lambda r: r.updated_at, reverse=True)
    return repositories[:limit]


class Home:
    def __init__(self, web: Web, parts: Components, pushes: PushLog) -> None:
        self.web = web
        self.parts = parts
        self.pushes = pushes

    async def home(self, request: Request, visitor: Visitor) -> Response:
        p = visitor.principal
        builds, repos, images, pushes = await asyncio.gather(
            asyncio.to_thread(recent_builds, self.parts.ci, p),
            asyncio.to_thread(recent_repos, self.parts.git, p),
            asyncio.to_thread(recent_images, self.parts.registry, p),
            asyncio.to_thread(self.pushes.recent, self.parts.git.repos, p, RECENT),
        )
        response = self.web.render(request, visitor, "home.html", builds=builds, repos=repos, images=images,
                                   pushes=pushes)
        response.headers["X-Jenkins"] = JENKINS_VERSION
        return response
