"""Answering a build's pending `input` steps, shared by the Jenkins API (`/job/N/B/input/ID/...`,
`/wfapi/pendingInputActions`) and the native API (`/api/ci/jobs/N/builds/B/input/ID/...`).

One permission rule: the caller must be allowed to run the job (`runnable_job`, as for stop and
build: 403, or 404 for a hidden job), and then be a listed submitter or an administrator
(`may_submit`, Jenkins' rule)."""

from __future__ import annotations

import asyncio
from typing import Any

from dockyard.auth import Principal, Role
from dockyard.ci.component import CIOperations
from dockyard.ci.csrf import HTTPError
from dockyard.ci.input_state import PARAM_TYPES, InputAnswer, InputValueError, PendingInput, may_submit
from dockyard.ci.store import Build

__all__ = ["pending_inputs", "pending_json", "settle_input"]


def pending_inputs(ci: CIOperations, build: Build) -> list[PendingInput]:
    """The inputs the build waits for now (none once it has finished)."""
    runner = ci.scheduler.running.get(build.id)
    return list(getattr(runner, "pending_inputs", {}).values())


def pending_json(p: PendingInput, build_url: str) -> dict[str, Any]:
    """One pending input in the shape of Jenkins' `wfapi/pendingInputActions`."""
    path = build_url.split("://", 1)[-1].partition("/")[2]
    return {
        "id": p.id,
        "proceedText": p.ok,
        "message": p.message,
        "inputs": [
            {
                "type": PARAM_TYPES[q.kind],
                "name": q.name,
                "description": q.description,
                "definition": {
                    "defaultParameterValue": {"name": q.name, "value": q.default},
                    **({"choices": list(q.choices)} if q.choices else {}),
                },
            }
            for q in p.params
        ],
        "submitter": ",".join(sorted(p.submitters)) or None,
        "proceedUrl": f"/{path}input/{p.id}/proceedEmpty",
        "abortUrl": f"/{path}input/{p.id}/abort",
        "redirectApprovalUrl": f"/{path}input/",
    }


async def settle_input(
    ci: CIOperations,
    principal: Principal,
    build: Build,
    input_id: str,
    proceed: bool,
    submitted: dict[str, Any] | None = None,
) -> None:
    """Proceeds or aborts the build's input `input_id` as `principal`, with `submitted`
    parameter values (defaults for the others); HTTPError 400/403/404/409."""
    await asyncio.to_thread(ci.runnable_job, principal, build.job_name)
    pending = {p.id: p for p in pending_inputs(ci, build)}.get(input_id)
    if pending is None:
        raise HTTPError(
            404, f"{build.job_name} #{build.number} is not waiting for an input with id {input_id!r}"
        )
    if not may_submit(pending, principal.username, principal.is_admin) and not await asyncio.to_thread(
        _member_of_any, ci, principal, pending.submitters
    ):
        raise HTTPError(
            403,
            f"{principal.username} may not answer input {input_id!r}: only"
            f" {', '.join(sorted(pending.submitters))} (users or members of those organisations,"
            " or an administrator) may",
        )
    try:
        values = pending.values(submitted or {}) if proceed else {}
    except InputValueError as e:
        raise HTTPError(400, str(e)) from None
    if not pending.settle(InputAnswer(proceed, principal.username, values)):
        raise HTTPError(409, f"input {input_id!r} was answered already")


def _member_of_any(ci: CIOperations, principal: Principal, names: frozenset[str]) -> bool:
    """Whether the principal belongs to one of the submitter names taken as organisations (Jenkins
    accepts group names there; Dockyard's groups are its organisations)."""
    if principal.is_anonymous:
        return False
    return any(ci.crumbs.auth.role_in(principal, name) != Role.NONE for name in names)
