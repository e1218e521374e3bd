"""Dockyard's own CI API for what Jenkins' lacks: build lists with timings, stages and the trace.

Writes: `POST /api/ci/jobs/NAME/builds` (JSON `{"params": {...}}`, optional) queues a build and
answers 201 with its summary; `POST /api/ci/jobs/NAME/builds/N/abort` stops a queued or running
build (202); `GET .../builds/N/input` lists the inputs it waits for and `POST .../input/ID/proceed`
(`{"parameters": {...}}`, optional) or `.../input/ID/abort` answers one (a listed submitter or an
administrator); `POST .../builds/N/rebuild` queues the build again with its parameters;
`GET .../builds/N/restart` lists the stages it may restart from and `POST .../builds/N/restart`
(`{"stage": "X"}`) restarts it. All need
write access to the job's repository (`JobAccess.check_run`, git push's
rule): a reader gets 403, a hidden job stays 404. A session-cookie caller sends a crumb as on
Jenkins' API; JSON bodies must be `application/json`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.auth import Principal
from dockyard.ci.access import JobForbidden
from dockyard.ci.buildlog import load_trace
from dockyard.ci.component import CIOperations
from dockyard.ci.csrf import HTTPError
from dockyard.ci.input_api import pending_inputs, pending_json, settle_input
from dockyard.ci.rebuild import rebuild_cause, rebuild_params
from dockyard.ci.restart import queue_restart, restartable_stages
from dockyard.ci.store import DONE, Build, JobError, JobNotFound
from dockyard.http import BadRequest, json_object


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


def native_routes(ci: CIOperations) -> list[BaseRoute]:
    Handler = Callable[[Request, Principal], Awaitable[Response]]

    def guard(fn: Handler, post: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                principal = await asyncio.to_thread(ci.crumbs.principal, request)
                if post:
                    ci.crumbs.check_post(request, principal)
                return await fn(request, principal)
            except HTTPError as e:
                return e.response()
            except JobNotFound as e:
                return JSONResponse({"message": str(e)}, status_code=404)
            except JobForbidden as e:
                return JSONResponse({"message": str(e)}, status_code=403)
            except JobError as e:
                return JSONResponse({"message": str(e)}, status_code=400)

        return endpoint

    async def visible_build(request: Request, principal: Principal) -> Build:
        """The build of the path, if the principal may read its job's repository (404 otherwise)."""
        name = request.path_params["name"]
        await asyncio.to_thread(ci.visible_job, principal, name)
        return await asyncio.to_thread(ci.store.build, name, request.path_params["n"])

    async def jobs(request: Request, principal: Principal) -> Response:
        out = []
        for j in await asyncio.to_thread(ci.visible_jobs, principal):
            out.append(
                {
                    "name": j.name,
                    "scm_url": j.public_scm_url,
                    "branch_spec": j.branch_spec,
                    "script_path": j.script_path,
                    "concurrent": j.concurrent,
                    "disabled": j.disabled,
                    "next_number": j.next_number,
                }
            )
        return JSONResponse(out)

    async def builds(request: Request, principal: Principal) -> Response:
        job = await asyncio.to_thread(ci.visible_job, principal, request.path_params["name"])
        return JSONResponse(
            [build_summary(b) for b in await asyncio.to_thread(ci.store.builds, job.name, 200)]
        )

    async def build(request: Request, principal: Principal) -> Response:
        return JSONResponse(build_summary(await visible_build(request, principal)))

    async def trace(request: Request, principal: Principal) -> Response:
        b = await visible_build(request, principal)
        data = load_trace(ci.scheduler.paths(b.job_name, b.number).trace)
        return JSONResponse({**build_summary(b), **data})

    async def stages(request: Request, principal: Principal) -> Response:
        b = await visible_build(request, principal)
        data = load_trace(ci.scheduler.paths(b.job_name, b.number).trace)
        return JSONResponse([s for s in data["spans"] if s["kind"] == "stage"])

    async def trigger(request: Request, principal: Principal) -> Response:
        body = await json_object(request, optional=True)
        params = body.get("params", {})
        if not isinstance(params, dict) or set(body) - {"params"}:
            raise BadRequest('the body is {"params": {"NAME": value, ...}} (optional)')
        job = await asyncio.to_thread(ci.runnable_job, principal, request.path_params["name"])
        queued = await asyncio.to_thread(ci.trigger, job, params, f"user {principal.username}")
        return JSONResponse(build_summary(queued), status_code=201)

    async def abort(request: Request, principal: Principal) -> Response:
        b = await visible_build(request, principal)
        await asyncio.to_thread(ci.runnable_job, principal, b.job_name)
        if b.state != DONE:
            await ci.scheduler.cancel(b, f"Aborted by {principal.username}")
        return JSONResponse(build_summary(await asyncio.to_thread(ci.store.build, b.job_name, b.number)),
                            status_code=202)

    async def rebuild(request: Request, principal: Principal) -> Response:
        b = await visible_build(request, principal)
        job = await asyncio.to_thread(ci.runnable_job, principal, b.job_name)
        cause = rebuild_cause(principal.username, b)
        new = await asyncio.to_thread(ci.trigger, job, rebuild_params(b), cause)
        return JSONResponse(build_summary(new), status_code=201)

    async def restart(request: Request, principal: Principal) -> Response:
        """POST .../builds/N/restart {"stage": "Deploy"}: the build again from that top-level stage."""
        b = await visible_build(request, principal)
        body = await json_object(request)
        stage = body.get("stage")
        if not isinstance(stage, str) or set(body) - {"stage"}:
            raise BadRequest('the body is {"stage": "<a top-level stage of the build>"}')
        return JSONResponse(build_summary(await queue_restart(ci, principal, b, stage)), status_code=201)

    async def restart_stages(request: Request, principal: Principal) -> Response:
        b = await visible_build(request, principal)
        stages = await asyncio.to_thread(restartable_stages, ci.scheduler.paths(b.job_name, b.number))
        return JSONResponse({"restartable": b.state == DONE and stages is not None, "stages": stages or []})

    async def inputs(request: Request, principal: Principal) -> Response:
        b = await visible_build(request, principal)
        url = f"{ci.base_url()}/job/{b.job_name}/{b.number}/"
        return JSONResponse([pending_json(p, url) for p in pending_inputs(ci, b)])

    async def answer_input(request: Request, principal: Principal) -> Response:
        """POST .../input/ID/proceed ({"parameters": {...}}, optional) or .../input/ID/abort."""
        action = request.path_params["action"]
        if action not in ("proceed", "abort"):
            raise HTTPError(404, f"no input action {action!r}: use proceed or abort")
        b = await visible_build(request, principal)
        proceed = action == "proceed"
        body = await json_object(request, optional=True)
        submitted = body.get("parameters", {})
        if not isinstance(submitted, dict) or set(body) - {"parameters"}:
            raise BadRequest('the body is {"parameters": {"NAME": value, ...}} (optional)')
        await settle_input(ci, principal, b, request.path_params["input_id"], proceed, submitted)
        return JSONResponse(build_summary(b), status_code=202)

    async def queue(request: Request, principal: Principal) -> Response:
        return JSONResponse([build_summary(b) for b in await asyncio.to_thread(ci.visible_queue, principal)])

    base = "/api/ci/jobs/{name}/builds"
    return [
        Route("/api/ci/jobs", guard(jobs), methods=["GET"]),
        Route("/api/ci/queue", guard(queue), methods=["GET"]),
        Route(base, guard(builds), methods=["GET"]),
        Route(base, guard(trigger, post=True), methods=["POST"]),
        Route(base + "/{n:int}/abort", guard(abort, post=True), methods=["POST"]),
        Route(base + "/{n:int}/rebuild", guard(rebuild, post=True), methods=["POST"]),
        Route(base + "/{n:int}/restart", guard(restart_stages), methods=["GET"]),
        Route(base + "/{n:int}/restart", guard(restart, post=True), methods=["POST"]),
        Route(base + "/{n:int}/input", guard(inputs), methods=["GET"]),
        Route(
            base + "/{n:int}/input/{input_id}/{action:str}", guard(answer_input, post=True), methods=["POST"]
        ),
        Route(base + "/{n:int}", guard(build), methods=["GET"]),
        Route(base + "/{n:int}/trace", guard(trace), methods=["GET"]),
        Route(base + "/{n:int}/stages", guard(stages), methods=["GET"]),
    ]
