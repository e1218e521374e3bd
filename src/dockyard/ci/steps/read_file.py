"""`readFile 'x'` / `fileExists 'x'`: a workspace file's text, or whether it is there."""

from __future__ import annotations

import base64

from dockyard.ci.steps.files import read_bytes, workspace_path
from dockyard.ci.steps.interface import Ctx, Step, StepHost
from dockyard.ci.steps.values import interpolate


class ReadFileStep(Step):
    name = "readFile"

    async def run(self, ctx: Ctx, host: StepHost) -> str:
        rel = interpolate(self.args["file"], ctx.env)
        data = read_bytes(workspace_path(ctx, host, rel, "readFile", self.call.pos), "readFile", rel)
        host.log.line("[Pipeline] readFile")
        if interpolate(self.args.get("encoding") or "", ctx.env).lower() == "base64":
            return base64.b64encode(data).decode()
        return data.decode("utf-8", "replace")


class FileExistsStep(Step):
    name = "fileExists"

    async def run(self, ctx: Ctx, host: StepHost) -> bool:
        rel = interpolate(self.args["file"], ctx.env)
        host.log.line("[Pipeline] fileExists")
        return workspace_path(ctx, host, rel, "fileExists", self.call.pos).exists()
