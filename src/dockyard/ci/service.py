"""The CI component as the server composes it: store, scheduler, triggers and HTTP routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

from dockyard.auth import AuthService
from dockyard.ci.csrf import CrumbIssuer
from dockyard.ci.executor.local import LocalExecutor
from dockyard.ci.executor.warm import WarmExecutor
from dockyard.ci.model import Parameter
from dockyard.ci.podtemplate import CredentialLookup
from dockyard.ci.scheduler import Scheduler
from dockyard.ci.scm import branch_matches, equivalent_keys, repo_key
from dockyard.ci.store import Build, CIStore, Job, JobError
from dockyard.events import Event, EventBus
from dockyard.store import Database

log = logging.getLogger(__name__)


class CIService:
    def __init__(
        self,
        db: Database,
        auth: AuthService,
        events: EventBus,
        ci_dir: Path,
        base_url: Callable[[], str],
        credentials: CredentialLookup | None = None,
        executors: int | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        self.store = CIStore(db)
        self.auth = auth
        self.events = events
        self.ci_dir = ci_dir
        self.base_url = base_url
        self.credentials = credentials
        self.crumbs = CrumbIssuer(auth)
        self.scheduler = Scheduler(self.store, ci_dir, base_url, events, credentials, executors)
        self.webhook_secret = webhook_secret
        self.warm = WarmExecutor()
        events.subscribe("git.push", self.on_git_push)

    def routes(self) -> list[BaseRoute]:
        from dockyard.ci.hooks import hook_routes
        from dockyard.ci.jenkins_api import jenkins_routes
        from dockyard.ci.native_api import native_routes

        return [*jenkins_routes(self), *native_routes(self), *hook_routes(self)]

    async def start(self) -> None:
        self.ci_dir.mkdir(parents=True, exist_ok=True)
        self.scheduler.executor_factory = lambda: LocalExecutor(self.warm)
        await self.scheduler.start()

    async def stop(self) -> None:
        await self.scheduler.stop()
        await asyncio.to_thread(self.warm.close)

    # -- triggers ---------------------------------------------------------------
    def on_git_push(self, event: Event) -> None:
        """`git.push` from Dockyard's git server: queue every job watching that repo and branch.
        Runs on the bus (in the event loop), so it only hands the work to a thread."""
        data = dict(event.data)
        loop = self.scheduler.loop
        if loop is None:
            self.push(data)
            return
        loop.call_soon_threadsafe(lambda: asyncio.ensure_future(asyncio.to_thread(self._push_logged, data)))

    def _push_logged(self, data: dict[str, Any]) -> None:
        try:
            self.push(data)
        except Exception:
            log.exception("queueing builds for a push failed")

    def push(self, data: dict[str, Any]) -> list[Build]:
        """Queue builds for one pushed ref: data has clone_url, branch, after, git_dir (optional), pusher."""
        branch = data.get("branch")
        if not branch or data.get("deleted"):
            return []
        key = repo_key(str(data.get("clone_url") or ""))
        builds = []
        for job in self.store.jobs_for_repo(equivalent_keys(str(data.get("clone_url") or ""))):
            if not branch_matches(job.branch_spec, branch):
                continue
            cause = (
                f"push by {data.get('pusher') or 'unknown'} to {branch} ({str(data.get('after', ''))[:12]})"
            )
            build = self.scheduler.enqueue(
                job,
                cause=cause,
                commit=str(data.get("after") or ""),
                branch=branch,
                clone_from=str(data.get("git_dir") or ""),
                source_repo=str(data.get("full_name") or ""),
            )
            log.info("push to %s %s queued %s #%d", key, branch, job.name, build.number)
            builds.append(build)
        if not builds:
            log.info("push to %s %s: no job watches this repository and branch", key, branch)
        return builds

    def trigger(self, job: Job, params: dict[str, Any], cause: str) -> Build:
        if job.disabled:
            raise JobError(f"job {job.name!r} is disabled")
        declared = {p.name: p for p in job.config.parameters}
        values = {name: p.default for name, p in declared.items()}
        for name, value in params.items():
            p = declared.get(name)
            values[name] = _coerce(p, value) if p else value
        return self.scheduler.enqueue(job, cause=cause, params=values)


def _coerce(p: Parameter, value: Any) -> Any:
    if p.kind == "booleanParam":
        return str(value).lower() in ("true", "1", "on", "yes")
    if p.kind == "choice" and p.choices and str(value) not in p.choices:
        raise JobError(f"parameter {p.name}: {value!r} is not one of {', '.join(p.choices)}")
    return str(value)
