"""`retry(3) { ... }`: run the nested steps again after a failure, up to count times in all."""

from __future__ import annotations

from dockyard.ci.steps.interface import Ctx, Step, StepFailed, StepHost


class RetryStep(Step):
    name = "retry"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        count = int(self.args["count"])
        for attempt in range(1, count + 1):
            try:
                await host.run_steps(self.body, ctx)
                return
            except StepFailed as e:
                if attempt == count:
                    raise
                host.log.line(f"ERROR: {e}\nRetrying ({attempt}/{count})")
