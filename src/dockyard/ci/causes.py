"""Why a build started, as text in the build's row and as Jenkins' cause objects in its API.

The row keeps one readable line ("timer", "an SCM change", `upstream project "a" build number
3`, "user alice"...), printed as "Started by ..." at the top of the console as Jenkins prints it;
`cause_json` turns it into the `_class` a Jenkins client looks for
(`hudson.triggers.TimerTrigger$TimerTriggerCause`, `hudson.triggers.SCMTrigger$SCMTriggerCause`,
`hudson.model.Cause$UpstreamCause` with `upstreamProject`/`upstreamBuild`/`upstreamUrl`)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["SCM", "TIMER", "cause_json", "parse_upstream", "pushed_by", "started_by", "upstream_cause"]

TIMER = "timer"
SCM = "an SCM change"
_UPSTREAM = re.compile(r'upstream project "([^"]+)" build number (\d+)')
_USER = re.compile(r"(?:user|push by) ([^\s()]+)")


def started_by(cause: str) -> str | None:
    """The user who started a build ("user alice", "user alice (rebuild of #3)", "push by alice to
    main (...)"), None for timers, SCM changes, upstream builds and unknown pushers."""
    m = _USER.match(cause)
    return m.group(1) if m and m.group(1) != "unknown" else None


def pushed_by(cause: str) -> str | None:
    """The user whose push started the build ("push by alice to main (...)"), None otherwise:
    the author of the pipeline file the build read, as near as Dockyard knows."""
    return started_by(cause) if cause.startswith("push by ") else None


def upstream_cause(job: str, number: int) -> str:
    return f'upstream project "{job}" build number {number}'


def parse_upstream(cause: str) -> tuple[str, int] | None:
    """(job, number) of the build that started this one through `build job:` or an upstream
    trigger, None for any other cause."""
    m = _UPSTREAM.fullmatch(cause)
    return (m.group(1), int(m.group(2))) if m else None


def cause_json(cause: str) -> dict[str, Any]:
    """The cause as Jenkins renders it in `actions[].causes[]`."""
    short = f"Started by {cause}"
    if cause == TIMER:
        return {"_class": "hudson.triggers.TimerTrigger$TimerTriggerCause", "shortDescription": short}
    if cause == SCM:
        return {"_class": "hudson.triggers.SCMTrigger$SCMTriggerCause", "shortDescription": short}
    upstream = parse_upstream(cause)
    if upstream:
        return {
            "_class": "hudson.model.Cause$UpstreamCause",
            "shortDescription": short,
            "upstreamBuild": upstream[1],
            "upstreamProject": upstream[0],
            "upstreamUrl": f"job/{upstream[0]}/",
        }
    return {"_class": "hudson.model.Cause", "shortDescription": short}
