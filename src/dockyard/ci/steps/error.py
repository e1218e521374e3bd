"""`error 'why'`: fail the build with that message."""

from __future__ import annotations

from dockyard.ci.steps.interface import Ctx, Step, StepFailed, StepHost
from dockyard.ci.steps.values import interpolate


class ErrorStep(Step):
    name = "error"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        raise StepFailed(interpolate(self.args["message"], ctx.env))
