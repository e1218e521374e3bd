"""`deleteDir()` (the current directory) and `cleanWs()` (the whole workspace): recursive
deletion that never follows a symlink out of the workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

from dockyard.ci.steps.interface import Ctx, Step, StepFailed, StepHost


def _remove(path: Path, root: Path) -> None:
    if not path.resolve().is_relative_to(root.resolve()):
        raise StepFailed(f"{path} is outside the workspace")
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)  # rmtree removes symlinks inside, never their targets


class DeleteDirStep(Step):
    name = "deleteDir"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        host.log.line("[Pipeline] deleteDir")
        _remove(ctx.cwd, host.paths.workspace)


class CleanWsStep(Step):
    name = "cleanWs"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        ws = host.paths.workspace
        host.log.line("[Pipeline] cleanWs\n[WS-CLEANUP] Deleting project workspace...")
        try:
            for child in ws.iterdir() if ws.exists() else ():
                _remove(child, ws)
        except (OSError, StepFailed) as e:
            if not self.args.get("notFailBuild"):
                raise StepFailed(f"cleanWs: {e}") from None
            host.log.line(f"[WS-CLEANUP] {e}")
        host.log.line("[WS-CLEANUP] done")
