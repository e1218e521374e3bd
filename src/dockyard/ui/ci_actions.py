"""The build page's Replay and Restart-from-stage actions, at Jenkins' page paths: `/job/N/B/replay/`
(the pipeline the build ran, in a textarea, run edited) and `/job/N/B/restart/` (a picker of the
build's top-level stages). Forms post to `-/replay` and `-/restart` with the page's form token;
the rules are CI's own (`queue_replay`: administrators and the job's owners; `queue_restart`:
whoever may run the job), the same calls as the Jenkins and native APIs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dockyard.auth import Principal
from dockyard.ci import (
    DONE,
    Build,
    HTTPError,
    Job,
    JobForbidden,
    JobNotFound,
    load_script,
    may_replay,
    queue_replay,
    queue_restart,
    restartable_stages,
)
from dockyard.ui.web import PageError, Visitor

__all__ = ["build_actions", "routes"]


async def build_actions(ci: Any, principal: Principal, job: Job, b: Build) -> dict[str, Any]:
    """What the build page offers this visitor: Replay to owners and administrators, Restart from
    stage (with the stages) to whoever may run the job, once the build is complete."""
    def load() -> dict[str, Any]:
        try:
            ci.runnable_job(principal, job.name)
        except (JobForbidden, JobNotFound):
            return {"replay": False, "restart_stages": []}
        paths = ci.scheduler.paths(b.job_name, b.number)
        stages = restartable_stages(paths) if b.state == DONE and not job.disabled else None
        return {"replay": may_replay(principal, job, ci.base_url()), "restart_stages": stages or []}

    return await asyncio.to_thread(load)


def routes(page: Callable[[Any], Any], pages: Any) -> list[BaseRoute]:
    """`pages` is the CI pages object (its lookups and `web`)."""
    actions = BuildActions(pages)
    build = "/job/{name}/{number:int}"
    return [
        Route(build + "/replay/", page(actions.replay_page), methods=["GET"]),
        Route(build + "/-/replay", page(actions.replay), methods=["POST"]),
        Route(build + "/restart/", page(actions.restart_page), methods=["GET"]),
        Route(build + "/-/restart", page(actions.restart), methods=["POST"]),
    ]


class BuildActions:
    def __init__(self, pages: Any) -> None:
        self.pages = pages
        self.web = pages.web
        self.ci = pages.ci

    async def _build(self, request: Request, visitor: Visitor) -> tuple[Job, Build]:
        job, b = await self.pages._build(visitor, request.path_params["name"], request.path_params["number"])
        await self.pages._runnable(visitor, job.name)  # 403 for readers, as the APIs answer
        return job, b

    async def replay_page(self, request: Request, visitor: Visitor) -> Response:
        job, b = await self._build(request, visitor)
        if not may_replay(visitor.principal, job, self.ci.base_url()):
            raise PageError(403, f"{visitor.principal.username} may not replay builds of job {job.name!r}:"
                                 " that needs an administrator or the job's owner.")
        script = await asyncio.to_thread(load_script, self.ci.scheduler.paths(b.job_name, b.number))
        text = script[0] if script else (job.config.inline_script or "")
        return self.web.render(request, visitor, "replay.html", job=job, b=b, script=text,
                               recorded=script is not None)

    async def replay(self, request: Request, visitor: Visitor) -> Response:
        form = await self.web.form(request, visitor)
        job, b = await self._build(request, visitor)
        script = form.get("mainScript", "")
        try:
            new = await queue_replay(self.ci, visitor.principal, b, script)
        except HTTPError as e:
            if e.status != 400:
                raise PageError(e.status, e.message) from None
            # the edit stays in the textarea, with what is wrong in it
            return self.web.render(request, visitor, "replay.html", status=400, job=job, b=b, script=script,
                                   recorded=True, error=e.message)
        return self.web.redirect(request, visitor, f"/job/{job.name}/?queued={new.number}")

    async def restart_page(self, request: Request, visitor: Visitor) -> Response:
        job, b = await self._build(request, visitor)
        paths = self.ci.scheduler.paths(b.job_name, b.number)
        stages = await asyncio.to_thread(restartable_stages, paths) if b.state == DONE else None
        return self.web.render(request, visitor, "restart.html", job=job, b=b, stages=stages or [])

    async def restart(self, request: Request, visitor: Visitor) -> Response:
        form = await self.web.form(request, visitor)
        job, b = await self._build(request, visitor)
        try:
            new = await queue_restart(self.ci, visitor.principal, b, form.get("stageName", ""))
        except HTTPError as e:
            raise PageError(e.status, e.message) from None
        return self.web.redirect(request, visitor, f"/job/{job.name}/?queued={new.number}")
