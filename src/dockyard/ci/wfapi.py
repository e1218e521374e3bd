"""`/job/N/B/wfapi/describe` in the shape of Jenkins' Pipeline Stage View (its RunExt/StageNodeExt):
statuses are StatusExt's names (SUCCESS, FAILED, UNSTABLE, ABORTED, IN_PROGRESS, NOT_EXECUTED,
PAUSED_PENDING_INPUT). A build waiting at `input` is PAUSED_PENDING_INPUT, and so is the stage
the input waits in; stages skipped for a restart are NOT_EXECUTED."""

from __future__ import annotations

from typing import Any

from dockyard.ci.input_state import PendingInput
from dockyard.ci.store import Build

__all__ = ["describe"]

# trace span statuses (and build results) -> StatusExt
_STATUS = {
    "success": "SUCCESS",
    "ok": "SUCCESS",
    "failure": "FAILED",
    "failed": "FAILED",
    "unstable": "UNSTABLE",
    "aborted": "ABORTED",
    "not_executed": "NOT_EXECUTED",
    "running": "IN_PROGRESS",
}
PAUSED = "PAUSED_PENDING_INPUT"


def describe(b: Build, trace: dict[str, Any], pending: list[PendingInput], build_url: str) -> dict[str, Any]:
    waiting = {p.stage for p in pending}
    stages = []
    for i, s in enumerate(trace.get("spans") or []):
        if s["kind"] != "stage":
            continue
        status = _STATUS.get(str(s.get("status")), str(s.get("status")).upper())
        if status == "IN_PROGRESS" and s["name"] in waiting:
            status = PAUSED
        stages.append({
            "id": str(i),
            "name": s["name"],
            "execNode": "",
            "status": status,
            "startTimeMillis": int(s["start"] * 1000),
            "durationMillis": s.get("duration_ms") or 0,
            "pauseDurationMillis": 0,
        })
    status = _STATUS.get(b.result.lower(), b.result) if b.result else (PAUSED if pending else "IN_PROGRESS")
    path = build_url.split("://", 1)[-1].partition("/")[2]
    links: dict[str, Any] = {"self": {"href": f"/{path}wfapi/describe"}}
    if pending:
        links["pendingInputActions"] = {"href": f"/{path}wfapi/pendingInputActions"}
    return {
        "_links": links,
        "id": str(b.number),
        "name": f"#{b.number}",
        "status": status,
        "startTimeMillis": int((b.started_at or b.queued_at) * 1000),
        "endTimeMillis": int(b.finished_at * 1000) if b.finished_at else 0,
        "durationMillis": b.duration_ms,
        "queueDurationMillis": int(((b.started_at or b.queued_at) - b.queued_at) * 1000),
        "pauseDurationMillis": 0,
        "stages": stages,
    }
