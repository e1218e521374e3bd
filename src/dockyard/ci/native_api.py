"""Dockyard's own CI API for what Jenkins' lacks: build lists with timings, stages and the trace."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.ci.buildlog import load_trace
from dockyard.ci.csrf import HTTPError
from dockyard.ci.service import CIService
from dockyard.ci.store import Build, JobNotFound


def build_summary(b: Build) -> dict[str, Any]:
    return {
        "job": b.job_name,
        "number": b.number,
        "queue_id": b.id,
        "state": b.state,
        "result": b.result,
        "reason": b.reason,
        "cause": b.cause,
        "commit": b.git_commit,
        "branch": b.git_branch,
        "params": b.public_params,  # password values are None
        "password_params": sorted(b.secret_names),
        "queued_at": b.queued_at,
        "started_at": b.started_at,
        "finished_at": b.finished_at,
        "duration_ms": b.duration_ms,
    }


def native_routes(ci: CIService) -> list[BaseRoute]:
    def guard(fn: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                await asyncio.to_thread(ci.crumbs.principal, request)
                return await fn(request)
            except HTTPError as e:
                return e.response()
            except JobNotFound as e:
                return JSONResponse({"message": str(e)}, status_code=404)

        return endpoint

    async def jobs(request: Request) -> Response:
        out = []
        for j in await asyncio.to_thread(ci.store.jobs):
            out.append(
                {
                    "name": j.name,
                    "scm_url": _safe_url(j.scm_url),
                    "branch_spec": j.branch_spec,
                    "script_path": j.script_path,
                    "concurrent": j.concurrent,
                    "disabled": j.disabled,
                    "next_number": j.next_number,
                }
            )
        return JSONResponse(out)

    async def builds(request: Request) -> Response:
        name = request.path_params["name"]
        await asyncio.to_thread(ci.store.job, name)
        return JSONResponse([build_summary(b) for b in await asyncio.to_thread(ci.store.builds, name, 200)])

    async def build(request: Request) -> Response:
        b = await asyncio.to_thread(ci.store.build, request.path_params["name"], request.path_params["n"])
        return JSONResponse(build_summary(b))

    async def trace(request: Request) -> Response:
        b = await asyncio.to_thread(ci.store.build, request.path_params["name"], request.path_params["n"])
        data = load_trace(ci.scheduler.paths(b.job_name, b.number).trace)
        return JSONResponse({**build_summary(b), **data})

    async def stages(request: Request) -> Response:
        b = await asyncio.to_thread(ci.store.build, request.path_params["name"], request.path_params["n"])
        data = load_trace(ci.scheduler.paths(b.job_name, b.number).trace)
        return JSONResponse([s for s in data["spans"] if s["kind"] == "stage"])

    async def queue(request: Request) -> Response:
        return JSONResponse([build_summary(b) for b in await asyncio.to_thread(ci.store.queued)])

    base = "/api/ci/jobs/{name}/builds"
    return [
        Route("/api/ci/jobs", guard(jobs), methods=["GET"]),
        Route("/api/ci/queue", guard(queue), methods=["GET"]),
        Route(base, guard(builds), methods=["GET"]),
        Route(base + "/{n:int}", guard(build), methods=["GET"]),
        Route(base + "/{n:int}/trace", guard(trace), methods=["GET"]),
        Route(base + "/{n:int}/stages", guard(stages), methods=["GET"]),
    ]


def _safe_url(url: str) -> str:
    from dockyard.ci.scm import strip_credentials

    return strip_credentials(url)[0]
