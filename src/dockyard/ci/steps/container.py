"""`container('name') { ... }`: the nested steps run in that container of the pod template."""

from __future__ import annotations

from dataclasses import replace

from dockyard.ci.steps.interface import Ctx, Step, StepHost


class ContainerStep(Step):
    name = "container"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        name = self.args["name"]
        host.log.line(f"[Pipeline] container ({name})")
        await host.run_steps(self.body, replace(ctx, container=name, shell=self.args.get("shell")))
