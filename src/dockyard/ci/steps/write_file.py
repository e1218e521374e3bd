"""`writeFile file: 'x', text: '...'`: a file in the workspace (never outside it)."""

from __future__ import annotations

from dockyard.ci.steps.files import workspace_path, write_bytes
from dockyard.ci.steps.interface import Ctx, Step, StepFailed, StepHost
from dockyard.ci.steps.values import interpolate


class WriteFileStep(Step):
    name = "writeFile"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        rel = interpolate(self.args["file"], ctx.env)
        path = workspace_path(ctx, host, rel, "writeFile", self.call.pos)
        encoding = interpolate(self.args.get("encoding") or "UTF-8", ctx.env)
        text = interpolate(self.args["text"], ctx.env)
        write_bytes(path, _encode(text, encoding), "writeFile", rel)
        host.log.line("[Pipeline] writeFile")


def _encode(text: str, encoding: str) -> bytes:
    if encoding.lower() == "base64":
        import base64
        import binascii

        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise StepFailed("writeFile: text is not valid Base64 (encoding: 'Base64')") from None
    return text.encode(
        encoding if encoding.lower().replace("-", "") in ("utf8", "ascii", "latin1") else "utf-8"
    )
