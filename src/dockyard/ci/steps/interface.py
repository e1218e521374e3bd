"""The one interface every pipeline step implements (Kaniko's pkg/commands shape, as the builder's
`instructions` package): a step is built from its parsed call and run against the build through
`StepHost`, the narrow view of the runner that steps may use."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from dockyard.ci.errors import BuildAborted as BuildAborted
from dockyard.ci.errors import StepFailed as StepFailed
from dockyard.ci.model import Step as Call

if TYPE_CHECKING:
    from dockyard.ci.buildlog import BuildPaths, ConsoleLog, Trace
    from dockyard.ci.executor.interface import Executor, StepHandle
    from dockyard.ci.input_state import PendingInput
    from dockyard.ci.steps.credentials import BuildCredentials
    from dockyard.http import HostMatchList


@dataclass
class Ctx:
    """Where a step runs: the environment, directory and container in effect."""

    env: dict[str, str]
    cwd: Path
    container: str | None = None
    shell: str | None = None
    stage: str = ""


class StepHost(Protocol):
    """What a step may use of the build running it."""

    log: ConsoleLog
    trace: Trace
    paths: BuildPaths
    executor: Executor
    credentials: BuildCredentials
    base_url: str  # this Dockyard's own address
    outgoing_hosts: HostMatchList  # where the server may connect for a step (webhook allow-list)

    job_name: str
    build_number: int
    pending_inputs: dict[str, PendingInput]  # `input` steps waiting, by id (the API settles them)

    @property
    def aborted(self) -> bool: ...

    async def abort(self, reason: str) -> None:
        """Ends the build ABORTED with `reason` (an `input` rejected or timed out)."""
        ...

    def mark_result(self, result: str, stage: str = "", stage_result: str | None = None) -> None:
        """The build's result becomes (never better than) `result`, and `stage`'s too (or
        `stage_result`); the build goes on."""
        ...

    def current_result(self) -> str: ...

    def set_build_info(self, **values: str | None) -> None:
        """currentBuild.displayName / description, shown by the build's API."""
        ...

    def running(self, handle: StepHandle) -> AbstractAsyncContextManager[None]:
        """Registers a started process so that an abort kills it."""
        ...

    async def run_steps(self, steps: tuple[Call, ...], ctx: Ctx) -> None: ...

    async def run_step(self, step: Call, ctx: Ctx) -> Any:
        """One step, its value returned (what a script gets back from a step call)."""
        ...


class Step:
    """One step call of a pipeline, already parsed and checked by its front end."""

    name: ClassVar[str] = ""

    def __init__(self, call: Call) -> None:
        self.call = call

    @property
    def args(self) -> dict[str, Any]:
        return self.call.args

    @property
    def body(self) -> tuple[Call, ...]:
        """The nested steps of a block step (`dir('x') { ... }`)."""
        return self.call.body or ()

    async def run(self, ctx: Ctx, host: StepHost) -> Any:
        """Runs the step; raises `StepFailed` (the build fails) or `BuildAborted`. The value is
        what a script gets back (`def out = sh(returnStdout: true, ...)`), None for most steps."""
        raise NotImplementedError
