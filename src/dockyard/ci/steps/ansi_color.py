"""`ansiColor('xterm') { ... }`: as Jenkins' AnsiColor plugin, the nested steps run with TERM set
to the color map, so tools print their colors; the console keeps the escape sequences (as
Jenkins' consoleText does)."""

from __future__ import annotations

from dataclasses import replace

from dockyard.ci.groovy.specs import COLOR_MAPS
from dockyard.ci.steps.interface import Ctx, Step, StepFailed, StepHost


class AnsiColorStep(Step):
    name = "ansiColor"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        color_map = str(self.args["colorMapName"])
        if color_map not in COLOR_MAPS:
            raise StepFailed(f"ansiColor takes a color map: {', '.join(COLOR_MAPS)}")
        host.log.line(f"[Pipeline] ansiColor ({color_map})")
        await host.run_steps(self.body, replace(ctx, env={**ctx.env, "TERM": color_map}))
