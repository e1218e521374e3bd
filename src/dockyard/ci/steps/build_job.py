"""`build job: 'other', parameters: [string(name: 'X', value: 'y'), booleanParam(name: 'B', value:
true)], wait: true, propagate: true`: start a downstream job (dockyard.ci.downstream decides
whether this build may), wait for it, and return its `RunWrapper` (`result`, `number`,
`getResult()`...). With `propagate` (the default) a downstream FAILURE, ABORTED or NOT_BUILT
fails the step with Jenkins' message and an UNSTABLE one makes this build and stage UNSTABLE;
`wait: false` returns null at once, as Jenkins does."""

from __future__ import annotations

import asyncio
from typing import Any

from dockyard.ci.groovy.runwrapper import RunWrapper
from dockyard.ci.groovy.values import truth
from dockyard.ci.model import GString
from dockyard.ci.steps.interface import BuildAborted, Ctx, Step, StepFailed, StepHost
from dockyard.ci.steps.values import interpolate
from dockyard.ci.store import SUCCESS, UNSTABLE, Build
from dockyard.ci.trigger_spec import check_parameters

__all__ = ["BuildJobStep"]

def _params(value: Any, env: dict[str, str]) -> dict[str, Any]:
    why = check_parameters(value if value is not None else [])
    if why:
        raise StepFailed(why)
    out: dict[str, Any] = {}
    for p in value or []:
        v = p.kwargs.get("value", "")
        if p.name == "booleanParam":
            out[p.kwargs["name"]] = v if isinstance(v, bool) else truth(str(v).lower() == "true")
        else:
            out[p.kwargs["name"]] = interpolate(v, env) if isinstance(v, str | GString) else str(v)
    return out


class BuildJobStep(Step):
    name = "build"

    async def run(self, ctx: Ctx, host: StepHost) -> Any:
        downstream = getattr(host, "downstream", None)
        if downstream is None:
            raise StepFailed("build job: downstream builds are not available in this build")
        target = interpolate(self.args["job"], ctx.env).strip().removeprefix("/")
        params = _params(self.args.get("parameters"), ctx.env)
        wait, propagate = truth(self.args.get("wait", True)), truth(self.args.get("propagate", True))
        host.log.line(f"Scheduling project: {target}")
        # the permission checks and the queueing read and write the database: not on the event loop
        queued: Build = await asyncio.to_thread(
            downstream.start, host.job_name, host.build_number, target, params, wait)
        host.log.line(f"Starting building: {target} #{queued.number}")
        if not wait:
            return None
        done: Build = await downstream.wait(queued, lambda: host.aborted)
        if host.aborted:
            raise BuildAborted()
        result = done.result or "NOT_BUILT"
        url = f"{host.base_url}/job/{target}/{done.number}/"
        if propagate and result == UNSTABLE:
            host.log.line(f"Build {target} #{done.number} completed: UNSTABLE")
            host.mark_result(UNSTABLE, ctx.stage)
        elif propagate and result != SUCCESS:
            raise StepFailed(
                f"{target} #{done.number} completed with status {result} (propagate: false to ignore)"
            )
        else:
            host.log.line(f"Build {target} #{done.number} completed: {result}")
        return RunWrapper(
            result=result,
            currentResult=result,
            number=done.number,
            id=str(done.number),
            displayName=f"#{done.number}",
            projectName=target,
            fullProjectName=target,
            absoluteUrl=url,
            buildVariables={k: v for k, v in done.public_params.items() if v is not None},
            durationString=f"{done.duration_ms / 1000:.1f} sec",
        )
