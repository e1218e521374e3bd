"""`echo 'text'`: a line in the console."""

from __future__ import annotations

from dockyard.ci.steps.interface import Ctx, Step, StepHost
from dockyard.ci.steps.values import interpolate


class EchoStep(Step):
    name = "echo"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        host.log.line(f"[Pipeline] echo\n{interpolate(self.args['message'], ctx.env)}")
