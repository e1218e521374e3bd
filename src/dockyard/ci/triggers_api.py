"""`GET /api/ci/jobs/NAME/triggers`: what starts a job besides pushes and people, as its last run
registered it (`cron`, `pollSCM`, `upstream`, `quietPeriod`), and `checked_through`, the last
minute the trigger loop has checked (its clock, ISO 8601): a minute at or before it has queued
whatever it was going to. Readable by whoever may see the job (404 otherwise)."""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.ci.component import CIOperations
from dockyard.ci.csrf import HTTPError
from dockyard.ci.store import JobNotFound
from dockyard.ci.triggers import JobProperties, TriggerLoop

__all__ = ["trigger_routes"]


def trigger_routes(ci: CIOperations, properties: JobProperties, loop: TriggerLoop) -> list[BaseRoute]:
    async def triggers(request: Request) -> Response:
        try:
            principal = await asyncio.to_thread(ci.crumbs.principal, request)
            job = await asyncio.to_thread(ci.visible_job, principal, request.path_params["name"])
        except HTTPError as e:
            return e.response()
        except JobNotFound as e:
            return JSONResponse({"message": str(e)}, status_code=404)
        rows = await asyncio.to_thread(properties.of_job, job.id)
        out = []
        for kind, prop in sorted(rows.items()):
            entry: dict[str, object] = {"kind": kind, "spec": prop.spec}
            if kind == "upstream":
                entry["spec"] = json.loads(prop.spec)
            out.append(entry)
        checked = loop.checked_through
        return JSONResponse(
            {"job": job.name, "triggers": out, "checked_through": checked.isoformat() if checked else None}
        )

    return [Route("/api/ci/jobs/{name}/triggers", triggers, methods=["GET"])]
