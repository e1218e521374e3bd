"""`timeout(time: 5, unit: 'MINUTES') { ... }`: the nested steps fail when they run longer; their
running process is killed (the `sh` step kills its own when cancelled)."""

from __future__ import annotations

import asyncio
import contextlib

from dockyard.ci.steps.interface import Ctx, Step, StepFailed, StepHost

TIMEOUT_CANCEL = "timeout"  # the cancel message that tells a timeout from other cancellations


class TimeoutStep(Step):
    name = "timeout"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        seconds = float(self.args["seconds"])
        task = asyncio.create_task(host.run_steps(self.body, ctx))
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if not done:
            task.cancel(TIMEOUT_CANCEL)  # an `input` waiting in there aborts the build, as in Jenkins
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise StepFailed(f"Timeout has been exceeded ({seconds:g} s)")
        task.result()
