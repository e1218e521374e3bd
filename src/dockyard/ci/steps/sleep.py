"""`sleep time: 5, unit: 'SECONDS'`."""

from __future__ import annotations

import asyncio

from dockyard.ci.steps.interface import Ctx, Step, StepHost

UNITS = {"SECONDS": 1.0, "MINUTES": 60.0, "HOURS": 3600.0, "MILLISECONDS": 0.001}


class SleepStep(Step):
    name = "sleep"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        await asyncio.sleep(float(self.args["time"]) * UNITS.get(self.args.get("unit", "SECONDS"), 1.0))
