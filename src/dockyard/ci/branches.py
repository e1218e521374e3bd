"""Parallel branches (`parallel`, and the cells a `matrix` compiles to) with Jenkins' semantics.

- Each branch fails on its own: a failure in one branch skips the later stages of that branch
  only; the others run to their end (queued ones still start), then the parallel stage and the
  build fail. `Failed in branch NAME` is printed as Jenkins prints it.
- failFast (`failFast true` on the stage, or `options { parallelsAlwaysFailFast() }`): the
  first failing branch stops the others; their running steps are killed and they end ABORTED
  (their post blocks still run), branches not started yet are skipped.
- At most `max_parallel` branches run at once (DOCKYARD_CI_MAX_PARALLEL).

The runner keeps its failure flag and its "stopped" state per branch through `BranchScope`
(a context variable: each branch runs in its own task), and marks stage results by stage path,
so the `Build` stage of one matrix cell never takes another cell's UNSTABLE, while a marked
stage does make its enclosing stages (the cell, the matrix stage) UNSTABLE, as Jenkins shows.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dockyard.ci.input_state import InputAnswer, PendingInput

if TYPE_CHECKING:
    from dockyard.ci.executor.interface import StepHandle
    from dockyard.ci.model import Stage
    from dockyard.ci.steps import Ctx

__all__ = [
    "BranchInputs",
    "BranchScope",
    "enter_stage",
    "leave_stage",
    "run_branches",
    "scope_of",
    "stage_path",
]


@dataclass(eq=False)
class BranchScope:
    """One branch's (or the whole build's) failure flag, failFast stop and running steps."""

    owner: Any  # the BuildRunner (scopes of another build are never read)
    parent: BranchScope | None = None
    failed: bool = False
    stopped: str | None = None  # why failFast stopped this branch
    handles: list[StepHandle] = field(default_factory=list)
    inputs: list[PendingInput] = field(default_factory=list)  # `input` steps waiting in it

    def stop_reason(self) -> str | None:
        scope: BranchScope | None = self
        while scope is not None:
            if scope.stopped is not None:
                return scope.stopped
            scope = scope.parent
        return None

    def chain(self) -> list[BranchScope]:
        out: list[BranchScope] = []
        scope: BranchScope | None = self
        while scope is not None:
            out.append(scope)
            scope = scope.parent
        return out


class BranchInputs(dict[str, PendingInput]):
    """A build's waiting `input` steps (by id), each also noted in the branches it waits in, so
    that failFast stopping a branch ends its input (ABORTED) instead of leaving it waiting."""

    def __init__(self, owner: Any) -> None:
        super().__init__()
        self.owner = owner

    def __setitem__(self, key: str, value: PendingInput) -> None:
        super().__setitem__(key, value)
        for scope in scope_of(self.owner).chain():
            scope.inputs.append(value)


_SCOPE: ContextVar[BranchScope | None] = ContextVar("dockyard_ci_branch", default=None)
_PATH: ContextVar[tuple[str, ...]] = ContextVar("dockyard_ci_stage_path", default=())


def scope_of(runner: Any) -> BranchScope:
    """The branch running now, or the build's root scope outside any branch."""
    scope = _SCOPE.get()
    while scope is not None and scope.owner is not runner:
        scope = scope.parent
    return scope if scope is not None else runner.root_scope


def stage_path() -> tuple[str, ...]:
    """The names of the stages enclosing the running step, outermost first."""
    return _PATH.get()


def enter_stage(name: str) -> Token[tuple[str, ...]]:
    return _PATH.set((*_PATH.get(), name))


def leave_stage(token: Token[tuple[str, ...]]) -> None:
    _PATH.reset(token)


async def run_branches(runner: Any, stage: Stage, ctx: Ctx) -> None:
    """Runs `stage.parallel` (see the module docstring)."""
    branches = list(stage.parallel)
    pipeline = runner.pipeline
    fail_fast = stage.fail_fast or bool(pipeline and pipeline.options.parallels_always_fail_fast)
    parent = scope_of(runner)
    scopes = {b.name: BranchScope(runner, parent) for b in branches}
    pending = list(branches)

    async def stop_others(failed: str) -> None:
        for name, scope in scopes.items():
            if name != failed and scope.stopped is None:
                scope.stopped = f"failFast: branch {failed!r} failed"
                for pending in scope.inputs:
                    pending.settle(InputAnswer(proceed=False, by=""))  # ends as for an abort
                for handle in list(scope.handles):
                    await runner.executor.kill(handle)

    async def run_one(branch: Stage) -> None:
        scope = scopes[branch.name]
        token = _SCOPE.set(scope)
        try:
            if scope.stop_reason() is None:
                runner.log.line(f"[Pipeline] {{ (Branch: {branch.name})")
                if branch.agent is not None and branch.agent.kind == "label":
                    runner.log.line(
                        f"[dockyard] {branch.name}: agent label '{branch.agent.label}': the local"
                        " agent serves every label"
                    )
            await runner.run_stage(branch, ctx, branch=True)
        finally:
            _SCOPE.reset(token)
        if scope.failed and scope.stopped is None:
            runner.log.line(f"Failed in branch {branch.name}")
            if fail_fast:
                await stop_others(branch.name)

    async def worker() -> None:
        while pending:
            await run_one(pending.pop(0))

    await asyncio.gather(*(worker() for _ in range(min(runner.max_parallel, len(pending)))))
    if any(s.failed or s.stopped for s in scopes.values()):
        parent.failed = True
