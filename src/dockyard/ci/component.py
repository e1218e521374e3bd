"""The narrow interfaces around the CI component.

What CI takes from the server is `dockyard.services.Services`, and what it gives back a
`dockyard.services.Component` (`open_ci` returns one); the protocols here are CI's own:

- `CIOperations`: what CI's HTTP routes (Jenkins API, native API, webhooks) use of the service, so
  that route modules depend on this protocol and never on `service.py` (which imports them).
- `ExecutorBackend`: the agent backend, chosen by configuration and passed into the service
  (Woodpecker's model): one `Executor` per build, closed with the component.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from dockyard.auth import Principal
from dockyard.ci.buildlog import BuildPaths
from dockyard.ci.csrf import CrumbIssuer
from dockyard.ci.executor.interface import Executor
from dockyard.ci.store import Build, CIStore, Job
from dockyard.events import PushEvent


class BuildQueue(Protocol):
    """What the routes use of the scheduler: capacity, running builds, build files, cancelling,
    queueing as is (a restart keeps its origin's commit)."""

    @property
    def limit(self) -> int: ...

    @property
    def running(self) -> Mapping[int, Any]: ...

    def paths(self, job_name: str, number: int) -> BuildPaths: ...

    def quiet_period(self, job_id: int) -> float:
        """Seconds the job's queued builds wait before they may start (options quietPeriod)."""
        ...

    def wait_of(self, build: Build) -> float:
        """Seconds a queued build waits before it may start (`?delay=`, else the quiet period)."""
        ...

    async def cancel(self, build: Build, reason: str) -> None: ...

    def enqueue(self, job: Job, **kwargs: Any) -> Build: ...


class CIOperations(Protocol):
    @property
    def store(self) -> CIStore: ...

    @property
    def crumbs(self) -> CrumbIssuer: ...

    @property
    def scheduler(self) -> BuildQueue: ...

    @property
    def webhook_secret(self) -> str | None: ...

    @property
    def base_url(self) -> Callable[[], str]: ...

    def push(self, event: PushEvent) -> list[Build]: ...

    def trigger(self, job: Job, params: dict[str, Any], cause: str, delay: int | None = None) -> Build: ...

    def check_job_xml(self, config_xml: str) -> None: ...

    def visible_job(self, principal: Principal, name: str) -> Job: ...

    def runnable_job(self, principal: Principal, name: str) -> Job: ...

    def visible_build(self, principal: Principal, build: Build | None) -> Build | None: ...

    def visible_jobs(self, principal: Principal) -> list[Job]: ...

    def visible_queue(self, principal: Principal) -> list[Build]: ...


class ExecutorBackend(Protocol):
    @property
    def name(self) -> str: ...

    def new(self) -> Executor:
        """A fresh executor for one build."""
        ...

    async def start(self) -> None:
        """Before the first build: clean up what a previous run left (orphan build pods)."""
        ...

    def close(self) -> None: ...
