"""`dir('path') { ... }`: the nested steps run in a directory of the workspace (never outside)."""

from __future__ import annotations

from dataclasses import replace

from dockyard.ci.steps.interface import Ctx, Step, StepFailed, StepHost
from dockyard.ci.steps.values import interpolate


class DirStep(Step):
    name = "dir"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        rel = interpolate(self.args["path"], ctx.env)
        target = (ctx.cwd / rel).resolve()
        if not target.is_relative_to(host.paths.workspace.resolve()):
            raise StepFailed(f"{self.call.pos}: dir('{rel}') leaves the workspace")
        target.mkdir(parents=True, exist_ok=True)
        host.log.line(f"[Pipeline] dir ({target})")
        await host.run_steps(self.body, replace(ctx, cwd=target, env={**ctx.env, "PWD": str(target)}))
