"""`checkout scm`: the runner has already checked the job's commit out into the workspace."""

from __future__ import annotations

from dockyard.ci.steps.interface import Ctx, Step, StepHost


class CheckoutStep(Step):
    name = "checkout"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        host.log.line(
            f"[Pipeline] checkout (workspace already at {ctx.env.get('GIT_COMMIT', 'the job commit')})"
        )
