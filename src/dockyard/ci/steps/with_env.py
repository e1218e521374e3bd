"""`withEnv(['NAME=value', ...]) { ... }`: the nested steps see those variables."""

from __future__ import annotations

from dataclasses import replace

from dockyard.ci.steps.interface import Ctx, Step, StepFailed, StepHost
from dockyard.ci.steps.values import interpolate


class WithEnvStep(Step):
    name = "withEnv"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        env = dict(ctx.env)
        for item in self.args["vars"]:
            text = interpolate(item, env)
            name, sep, value = text.partition("=")
            if not sep:
                raise StepFailed(f"{self.call.pos}: withEnv entries are NAME=value, got {text!r}")
            env[name] = value
        await host.run_steps(self.body, replace(ctx, env=env))
