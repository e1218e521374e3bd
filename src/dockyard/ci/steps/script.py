"""`script { ... }`: a block of the Groovy subset (`dockyard.ci.groovy`), run by Dockyard's own
interpreter. Also the body of block steps called from a script (`dir('x') { ... }` inside
`script { }`): there the call carries the closure instead of a parsed block."""

from __future__ import annotations

from typing import Any

from dockyard.ci.groovy.interpreter import evaluate, run_closure
from dockyard.ci.steps.interface import Ctx, Step, StepHost


class ScriptStep(Step):
    name = "script"

    async def run(self, ctx: Ctx, host: StepHost) -> Any:
        if "closure" in self.args:
            return await run_closure(self.args["closure"], ctx, host)
        return await evaluate(self.args["code"], ctx, host)
