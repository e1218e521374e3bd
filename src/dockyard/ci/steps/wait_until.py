"""`waitUntil { ... }`: runs the block until it returns true, waiting longer between tries
(0.25 s growing by 1.2x up to 15 s, as Jenkins does); bounded in tries, stopped by an abort or
an enclosing timeout."""

from __future__ import annotations

import asyncio

from dockyard.ci.groovy.values import truth
from dockyard.ci.steps.interface import BuildAborted, Ctx, Step, StepFailed, StepHost

MAX_TRIES = 1000


class WaitUntilStep(Step):
    name = "waitUntil"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        period = self.args.get("initialRecurrencePeriod") or 250
        if isinstance(period, bool) or not isinstance(period, int | float) or period <= 0:
            raise StepFailed("waitUntil initialRecurrencePeriod: milliseconds, a positive number")
        delay = float(period) / 1000
        quiet = bool(self.args.get("quiet"))
        host.log.line("[Pipeline] waitUntil")
        for attempt in range(1, MAX_TRIES + 1):
            value = None
            for call in self.body:
                if host.aborted:
                    raise BuildAborted()
                value = await host.run_step(call, ctx)
            if truth(value):
                return
            if not quiet:
                host.log.line(f"Will try again after {delay:.2f} sec (attempt {attempt})")
            await asyncio.sleep(delay)
            delay = min(delay * 1.2, 15.0)
        raise StepFailed(f"waitUntil: the block was still false after {MAX_TRIES} tries")
