"""Downstream jobs: the `build job:` step's side on the server.

A build may start another job only if everyone who decides what it does may start that job
(`JobAccess.check_run`: write on its repository, as `git push` needs): the user who started the
chain (by hand, by a push; for a timer, poll or upstream trigger the user whose push brought the
pipeline that registered them: `JobProperties.registered_by`) and the job's owner, who controls
its Jenkinsfile (the owner of its repository on this Dockyard, or for a job outside them the
administrator who created it). So a build never lends rights that its user or its
Jenkinsfile's owner lacks, and a build with nobody to check starts nothing. The new build's
cause is `upstream project "A" build number N` (Jenkins' UpstreamCause in its API).

Loop guard: the upstream chain of a build is read back from those causes. A chain deeper than
`MAX_DEPTH` builds is refused (A builds B builds A... ends with a clear error, not a flood), and
so is waiting for a job that is itself waiting higher up the chain (A waits for B, B waits for A:
neither could ever finish).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from dockyard.auth import Principal
from dockyard.ci.access import JobAccess, JobForbidden
from dockyard.ci.causes import parse_upstream, upstream_cause
from dockyard.ci.errors import StepFailed
from dockyard.ci.store import DONE, Build, CIStore, Job, JobError, JobNotFound

__all__ = ["MAX_DEPTH", "Downstream"]

MAX_DEPTH = 10  # builds in one upstream chain, the new one included
POLL = 0.2  # seconds between looks at a waited-for build


class _Queue(Protocol):
    async def cancel(self, build: Build, reason: str) -> None: ...


class Downstream:
    def __init__(
        self,
        store: CIStore,
        access: JobAccess,
        deciders: Callable[[Job, str], list[Principal]],
        trigger: Callable[[Job, dict[str, Any], str], Build],
        queue: _Queue,
    ) -> None:
        self.store, self.access, self.deciders = store, access, deciders
        self.trigger, self.queue = trigger, queue

    def chain(self, job_name: str, number: int) -> list[tuple[str, int]]:
        """The build and its upstream builds, newest first (at most MAX_DEPTH + 1 of them)."""
        out = [(job_name, number)]
        while len(out) <= MAX_DEPTH:
            try:
                cause = self.store.build(*out[-1]).cause
            except JobNotFound:
                break
            up = parse_upstream(cause)
            if up is None:
                break
            out.append(up)
        return out

    def start(self, job_name: str, number: int, target: str, params: dict[str, Any], wait: bool) -> Build:
        """Queue `target` for the build `job_name` #`number`; StepFailed says why not."""
        chain = self.chain(job_name, number)
        shown = " <- ".join(f"{j} #{n}" for j, n in chain)
        if len(chain) >= MAX_DEPTH:
            raise StepFailed(
                f"build job: '{target}' refused: {shown} is already {len(chain)} builds deep (at most"
                f" {MAX_DEPTH}): jobs that start each other in a loop?"
            )
        upstream = self.store.job(job_name)
        if wait and any(j == target for j, _ in chain):
            raise StepFailed(
                f"build job: '{target}' refused: {shown} is waiting on it already, so it would wait for"
                " itself and never finish (use wait: false, or break the loop)"
            )
        principals = self.deciders(upstream, self.store.build(*chain[-1]).cause)
        if not principals:
            raise StepFailed(
                f"build job: '{target}' refused: no user to check for build {job_name} #{number} (its"
                " repository's owner is an organisation or gone, and no user started it)"
            )
        try:
            job = self.store.job(target)
            for principal in principals:
                self.access.check_run(principal, job)
        except JobNotFound:
            raise StepFailed(f"No item named {target} found") from None
        except JobForbidden as e:
            raise StepFailed(f"build job: '{target}' refused: {e}") from None
        try:
            return self.trigger(job, params, upstream_cause(job_name, number))
        except JobError as e:
            raise StepFailed(f"build job: '{target}': {e}") from None

    async def wait(self, build: Build, aborted: Callable[[], bool]) -> Build:
        """The build once DONE; if the waiting build is aborted meanwhile, the downstream one is
        cancelled too (as Jenkins does) and the wait ends with the build as it is."""
        while True:
            current = await asyncio.to_thread(self.store.build_by_id, build.id)
            if current is None:
                raise StepFailed(f"{build.job_name} #{build.number} was deleted while it was awaited")
            if current.state == DONE:
                return current
            if aborted():
                await self.queue.cancel(current, "Aborted: the upstream build was aborted")
                return current
            await asyncio.sleep(POLL)
