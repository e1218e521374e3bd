"""CI pages at Jenkins' paths: the job list, a job with its history and build forms, a build
with its stage table, artifacts and live console. Reads and actions go through CIService
(visible_jobs / visible_job / trigger / scheduler.cancel), the same calls as the Jenkins API;
like that API, pages need a signed-in user."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from dockyard.ci import (
    DONE,
    QUEUED,
    Build,
    HTTPError,
    Job,
    JobError,
    JobForbidden,
    JobNotFound,
    load_trace,
    pending_inputs,
    rebuild_cause,
    rebuild_params,
    settle_input,
)
from dockyard.ui import ci_actions, console
from dockyard.ui.web import SECURITY_HEADERS, PageError, Visitor, Web, page_number

PAGE_SIZE = 25
PERMALINKS: dict[str, Any] = {
    "lastBuild": lambda b: True,
    "lastCompletedBuild": lambda b: b.state == DONE,
    "lastSuccessfulBuild": lambda b: b.result == "SUCCESS",
    "lastStableBuild": lambda b: b.result == "SUCCESS",
    "lastFailedBuild": lambda b: b.result == "FAILURE",
    "lastUnsuccessfulBuild": lambda b: b.state == DONE and b.result != "SUCCESS",
}


def stage_rows(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """The trace's spans as table rows: offset from queueing, duration, and a bar's position."""
    spans = trace.get("spans") or []
    base = trace.get("queued_at") or (spans[0]["start"] if spans else 0)
    ends = [s["end"] for s in spans if s.get("end") is not None] + [s["start"] for s in spans]
    total = max((max(ends) - base) if ends else 0, 0.001)
    rows = []
    for s in spans:
        start = s["start"] - base
        end = s["end"] - base if s.get("end") is not None else None
        detail = s.get("detail") or {}
        rows.append({
            "kind": s["kind"], "name": s["name"], "status": s.get("status", ""),
            "start": start, "duration_ms": s.get("duration_ms"),
            "note": " ".join(f"{k}={v}" for k, v in detail.items()),
            "left": round(100 * start / total, 1),
            "width": max(round(100 * ((end if end is not None else total) - start) / total, 1), 0.5),
        })
    return rows


class CIPages:
    def __init__(self, web: Web, ci: Any) -> None:
        self.web = web
        self.ci = ci

    # lookups: the API's own checks -------------------------------------------------------------
    async def _job(self, visitor: Visitor, name: str) -> Job:
        try:
            return await asyncio.to_thread(self.ci.visible_job, visitor.principal, name)
        except JobNotFound:
            raise PageError(404, f"There is no job named {name!r} that you may see.") from None

    async def _runnable(self, visitor: Visitor, name: str) -> Job:
        """The job if the visitor may start or stop its builds (CI's check_run: write on its repository)."""
        try:
            return await asyncio.to_thread(self.ci.runnable_job, visitor.principal, name)
        except JobNotFound:
            raise PageError(404, f"There is no job named {name!r} that you may see.") from None
        except JobForbidden as e:
            raise PageError(403, str(e)) from None

    async def _build(self, visitor: Visitor, name: str, number: int) -> tuple[Job, Build]:
        job = await self._job(visitor, name)
        try:
            build = await asyncio.to_thread(self.ci.store.build, job.name, number)
        except JobNotFound:
            raise PageError(404, f"Job {name} has no build #{number}.") from None
        return job, build

    def _paths(self, b: Build) -> Any:
        return self.ci.scheduler.paths(b.job_name, b.number)

    # pages ------------------------------------------------------------------------------------
    async def jobs(self, request: Request, visitor: Visitor) -> Response:
        def load() -> list[tuple[Job, Build | None]]:
            rows = []
            for job in self.ci.visible_jobs(visitor.principal):
                started = [b for b in self.ci.store.builds(job.name, 5) if b.state != QUEUED]
                rows.append((job, started[0] if started else None))
            return rows

        rows = await asyncio.to_thread(load)
        return self.web.render(request, visitor, "jobs.html", rows=rows)

    async def job(self, request: Request, visitor: Visitor) -> Response:
        job = await self._job(visitor, request.path_params["name"])
        page = page_number(request)
        # one page's rows (and one more to know there is a next page), however long the history
        offset = (page - 1) * PAGE_SIZE
        builds = await asyncio.to_thread(self.ci.store.builds, job.name, PAGE_SIZE + 1, offset)
        shown = builds[:PAGE_SIZE]
        if page > 1 and not shown:
            raise PageError(404, f"Job {job.name} has no page {page} of builds.")
        params = await asyncio.to_thread(self.ci.declared_parameters, job)
        return self.web.render(request, visitor, "job.html", job=job, builds=shown, page=page,
                               more=len(builds) > PAGE_SIZE, params=list(params.values()))

    async def named_build(self, request: Request, visitor: Visitor) -> Response:
        """Jenkins' permalinks (/job/x/lastBuild/, lastSuccessfulBuild...) -> the numbered page."""
        job = await self._job(visitor, request.path_params["name"])
        ref, rest = request.path_params["ref"], request.path_params.get("rest", "")
        want = PERMALINKS.get(ref)
        if want is None:
            raise PageError(404, f"Job {job.name} has no page {ref!r}.")
        builds = await asyncio.to_thread(self.ci.store.builds, job.name, 1000)
        found = next((b for b in builds if b.state != QUEUED and want(b)), None)
        if found is None:
            raise PageError(404, f"Job {job.name} has no {ref} yet.")
        return self.web.redirect(request, visitor, f"/job/{job.name}/{found.number}/{rest}")

    async def build_form(self, request: Request, visitor: Visitor) -> Response:
        job = await self._job(visitor, request.path_params["name"])
        params = await asyncio.to_thread(self.ci.declared_parameters, job)
        return self.web.render(request, visitor, "build_form.html", job=job, params=list(params.values()))

    async def trigger(self, request: Request, visitor: Visitor) -> Response:
        form = await self.web.form(request, visitor)
        job = await self._runnable(visitor, request.path_params["name"])
        declared = await asyncio.to_thread(self.ci.declared_parameters, job)
        params = {k[len("param."):]: v for k, v in form.items() if k.startswith("param.")}
        for name, p in declared.items():
            if p.kind == "password" and not params.get(name):
                params.pop(name, None)  # an empty password field keeps the default
        cause = f"user {visitor.principal.username}"
        try:
            build = await asyncio.to_thread(self.ci.trigger, job, params, cause)
        except JobError as e:
            raise PageError(400, str(e)) from None
        return self.web.redirect(request, visitor, f"/job/{job.name}/?queued={build.number}")

    async def rebuild(self, request: Request, visitor: Visitor) -> Response:
        """A new build with the parameters of this one; password values are not kept by builds
        that others can read, so those take their defaults again."""
        await self.web.form(request, visitor)
        job, build = await self._build(visitor, request.path_params["name"], request.path_params["number"])
        await self._runnable(visitor, job.name)
        params = rebuild_params(build)
        try:
            new = await asyncio.to_thread(self.ci.trigger, job, params,
                                          rebuild_cause(visitor.principal.username, build))
        except JobError as e:
            raise PageError(400, str(e)) from None
        return self.web.redirect(request, visitor, f"/job/{job.name}/?queued={new.number}")

    async def stop(self, request: Request, visitor: Visitor) -> Response:
        await self.web.form(request, visitor)
        job, build = await self._build(visitor, request.path_params["name"], request.path_params["number"])
        await self._runnable(visitor, job.name)
        if build.state != DONE:
            await self.ci.scheduler.cancel(build, f"Aborted by {visitor.principal.username}")
        return self.web.redirect(request, visitor, f"/job/{job.name}/{build.number}/")

    async def answer_input(self, request: Request, visitor: Visitor) -> Response:
        """The build page's Proceed/Abort form for a waiting `input` step (dockyard.ci.input_api:
        the same rule as the APIs); unchecked boolean boxes are false, as in Jenkins' form."""
        form = await self.web.form(request, visitor)
        job, build = await self._build(visitor, request.path_params["name"], request.path_params["number"])
        await self._runnable(visitor, job.name)
        input_id, proceed = request.path_params["input_id"], "abort" not in form
        pending = {p.id: p for p in pending_inputs(self.ci, build)}.get(input_id)
        submitted: dict[str, Any] = {}
        for q in pending.params if pending else ():
            submitted[q.name] = q.name in form if q.kind == "booleanParam" else form.get(q.name, q.default)
        try:
            await settle_input(self.ci, visitor.principal, build, input_id, proceed, submitted)
        except HTTPError as e:
            raise PageError(e.status, e.message) from None
        return self.web.redirect(request, visitor, f"/job/{job.name}/{build.number}/")

    async def build(self, request: Request, visitor: Visitor) -> Response:
        job, b = await self._build(visitor, request.path_params["name"], request.path_params["number"])
        paths = self._paths(b)
        trace, (text, start, end), artifacts = await asyncio.gather(
            asyncio.to_thread(load_trace, paths.trace),
            asyncio.to_thread(console.tail, paths.log, 32 * 1024),
            asyncio.to_thread(self._artifacts, b),
        )
        actions = await ci_actions.build_actions(self.ci, visitor.principal, job, b)
        return self.web.render(
            request, visitor, "build.html", job=job, b=b, stages=stage_rows(trace), artifacts=artifacts,
            inputs=pending_inputs(self.ci, b), actions=actions,
            log=text, log_start=start, log_end=end, pushes=[s for s in trace.get("spans", [])
                                                            if s["kind"] == "push"])

    async def console_page(self, request: Request, visitor: Visitor) -> Response:
        job, b = await self._build(visitor, request.path_params["name"], request.path_params["number"])
        text, start, end = await asyncio.to_thread(console.tail, self._paths(b).log)
        return self.web.render(request, visitor, "console.html", job=job, b=b, log=text,
                               log_start=start, log_end=end)

    async def console_raw(self, request: Request, visitor: Visitor) -> Response:
        _, b = await self._build(visitor, request.path_params["name"], request.path_params["number"])
        # streamed up to its size now: a running build's log grows while it is sent
        return StreamingResponse(console.snapshot(self._paths(b).log), media_type="text/plain; charset=utf-8",
                                 headers=SECURITY_HEADERS)

    async def console_events(self, request: Request, visitor: Visitor) -> Response:
        job, b = await self._build(visitor, request.path_params["name"], request.path_params["number"])
        start = console.parse_offset(request.headers.get("last-event-id")
                                     or request.query_params.get("start"))
        store = self.ci.store

        def finished() -> str | None:
            current = store.build(job.name, b.number)
            return current.result or "ABORTED" if current.state == DONE else None

        stream = console.events(self._paths(b).log, start, finished, request.is_disconnected)
        return StreamingResponse(stream, media_type="text/event-stream", headers={
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Content-Type-Options": "nosniff"})

    def _artifacts(self, b: Build) -> list[tuple[str, int]]:
        archive = self._paths(b).archive
        if not archive.is_dir():
            return []
        return sorted((p.relative_to(archive).as_posix(), p.stat().st_size)
                      for p in archive.rglob("*") if p.is_file())

    async def artifact(self, request: Request, visitor: Visitor) -> Response:
        """An archived file, served as a download in a sandbox (never rendered as a page of ours)."""
        _, b = await self._build(visitor, request.path_params["name"], request.path_params["number"])
        target = await asyncio.to_thread(self._paths(b).archived_file, request.path_params["path"])
        if target is None:
            raise PageError(404, f"Build #{b.number} archived no file {request.path_params['path']!r}.")
        return FileResponse(target, media_type="application/octet-stream", filename=target.name, headers={
            "Content-Security-Policy": "sandbox; default-src 'none'", "X-Content-Type-Options": "nosniff"})
