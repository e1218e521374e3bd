"""`gitopsSetImage repo: ..., path: ..., image: ...`: patch image references in a deploy
repository, commit and push (dockyard.gitops), off the event loop."""

from __future__ import annotations

import asyncio
from typing import Any

from dockyard.ci.model import GString
from dockyard.ci.scm import local_repo, strip_credentials
from dockyard.ci.steps.interface import Ctx, Step, StepFailed, StepHost
from dockyard.ci.steps.values import interpolate


class GitopsSetImageStep(Step):
    name = "gitopsSetImage"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        from dockyard.gitops import GitOpsError, run_gitops_step

        params = {key: _value(value, ctx.env) for key, value in self.args.items()}
        shown = strip_credentials(params["repo"])[0]  # no user:password in the console or trace
        host.log.line(f"[Pipeline] gitopsSetImage ({shown})")
        with host.trace.span("gitops", shown) as span:
            workdir = host.paths.root / "gitops"
            workdir.mkdir(exist_ok=True)
            try:
                result = await asyncio.to_thread(
                    run_gitops_step,
                    params,
                    env=ctx.env,
                    log=host.log.line,
                    credentials=host.credentials.lookup,
                    workdir=workdir,
                    # this Dockyard's own repositories as in the tutorial; others by the allow-list
                    allowed_hosts=None if _own(params["repo"], host.base_url) else host.outgoing_hosts,
                )
            except GitOpsError as e:
                span.status = "failed"
                raise StepFailed(str(e)) from None
            span.detail["commit"] = (result.commit or "unchanged")[:12]


def _own(repo: Any, base_url: str) -> bool:
    return isinstance(repo, str) and local_repo(strip_credentials(repo)[0], base_url) is not None


def _value(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, str | GString):
        return interpolate(value, env)
    return value
