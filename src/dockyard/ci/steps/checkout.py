"""`checkout scm`: the runner has already checked the job's commit out into the workspace, unless
the pipeline said `options { skipDefaultCheckout() }`: then the checkout waits, set aside, until
this step puts it where the step runs (Jenkins' semantics: an empty workspace until then)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from dockyard.ci.buildlog import BuildPaths
from dockyard.ci.steps.interface import Ctx, Step, StepHost

__all__ = ["CheckoutStep", "set_aside_checkout"]


def _aside(paths: BuildPaths) -> Path:
    return paths.root / "scm"  # beside the workspace, out of the steps' sight


def set_aside_checkout(paths: BuildPaths) -> None:
    """skipDefaultCheckout: move the checked-out tree out of the workspace (same filesystem)."""
    aside = _aside(paths)
    if aside.exists() or not paths.workspace.is_dir():
        return
    paths.workspace.rename(aside)
    paths.workspace.mkdir()
    shutil.copystat(aside, paths.workspace)


class CheckoutStep(Step):
    name = "checkout"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        aside = _aside(host.paths)
        if not aside.is_dir():
            host.log.line(
                f"[Pipeline] checkout (workspace already at {ctx.env.get('GIT_COMMIT', 'the job commit')})"
            )
            return
        pull = getattr(host.executor, "pull_workspace", None)
        if pull is not None:  # the workspace lives in the agent: catch up before writing to it
            await pull()
        await asyncio.to_thread(shutil.copytree, aside, ctx.cwd, symlinks=True, dirs_exist_ok=True)
        host.log.line(f"[Pipeline] checkout: {ctx.env.get('GIT_COMMIT', 'the job commit')} into {ctx.cwd}")
        push = getattr(host.executor, "push_workspace", None)
        if push is not None:
            await push()
