"""Pipeline triggers run by Dockyard's scheduler: `cron` (Jenkins' TimerTrigger: build on the
schedule, whatever changed), `pollSCM` (SCMTrigger: on the schedule, ask the repository and build
only when a branch moved), `upstream` (ReverseBuildTrigger: build after another job finishes
with a good enough result), and the job's `quietPeriod`.

As on Jenkins, a pipeline's triggers become the job's when a run reads its Jenkinsfile (on the
first build, then on each push-triggered build): `register` replaces the job's rows in
`ci_job_properties` with what that run declared, so they survive a restart and a Jenkinsfile
without `triggers { }` removes them. `TriggerLoop` wakes each minute of its `Clock`, checks every
spec against that minute (missed minutes are caught up, as Jenkins' cron thread does, up to a
day) and queues builds; a timer or SCM build already waiting in the queue is not queued twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from dockyard.ci.causes import SCM, TIMER, upstream_cause
from dockyard.ci.clock import Clock
from dockyard.ci.cron import CronError, CronSpec, parse_cron
from dockyard.ci.downstream import MAX_DEPTH
from dockyard.ci.model import Pipeline
from dockyard.ci.podtemplate import CredentialLookup
from dockyard.ci.scmpoll import PollError, remote_heads
from dockyard.ci.store import FAILURE, QUEUED, SUCCESS, UNSTABLE, Build, CIStore, Job, JobError, JobNotFound
from dockyard.ci.trigger_spec import THRESHOLDS
from dockyard.store import Database

log = logging.getLogger(__name__)

__all__ = ["JobProperties", "TriggerLoop"]

TIMED = ("cron", "pollSCM")
MAX_CATCH_UP = timedelta(days=1)
POLLS_AT_ONCE = 4
_RESULT_ORDER = (SUCCESS, UNSTABLE, FAILURE)


@dataclass(frozen=True)
class Property:
    job_id: int
    kind: str
    spec: str
    state: dict[str, Any]


class JobProperties:
    """The `ci_job_properties` rows."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def register(
        self, job_id: int, pipeline: Pipeline, commit: str = "", branch: str = "", by: str = ""
    ) -> None:
        """Make the job's properties those `pipeline` declares; pollSCM starts from the commit the
        registering build ran (it is not new). `by`: the user whose push brought that pipeline
        (kept from the last such push when empty): builds that no user starts (timer, SCM,
        upstream) act with no more rights than theirs (`registered_by`)."""
        wanted: dict[str, str] = {}
        for call in pipeline.triggers:
            if call.name == "upstream":
                wanted["upstream"] = json.dumps(
                    {"projects": list(call.kwargs["projects"]), "threshold": call.kwargs["threshold"]}
                )
            else:
                wanted[call.name] = str(call.kwargs["spec"])
        quiet = getattr(pipeline.options, "quiet_period", None)
        if quiet is not None:
            wanted["quietPeriod"] = str(quiet)
        with self.db.transaction() as conn:
            rows = {
                r.kind: r
                for r in conn.execute(
                    text("SELECT kind, spec, state FROM ci_job_properties WHERE job_id = :j"), {"j": job_id}
                )
            }
            for kind in set(rows) - set(wanted):
                conn.execute(
                    text("DELETE FROM ci_job_properties WHERE job_id = :j AND kind = :k"),
                    {"j": job_id, "k": kind},
                )
            earlier = next((json.loads(r.state).get("by", "") for r in rows.values()), "")
            for kind, spec in wanted.items():
                state = json.loads(rows[kind].state) if kind in rows and rows[kind].spec == spec else {}
                if by or earlier:
                    state["by"] = by or earlier
                if kind == "pollSCM" and commit and branch:
                    state.setdefault("heads", {})[branch] = commit
                values = {"j": job_id, "k": kind, "s": spec, "st": json.dumps(state)}
                if kind in rows:
                    conn.execute(
                        text(
                            "UPDATE ci_job_properties SET spec = :s, state = :st"
                            " WHERE job_id = :j AND kind = :k"
                        ),
                        values,
                    )
                else:
                    conn.execute(
                        text(
                            "INSERT INTO ci_job_properties (job_id, kind, spec, state)"
                            " VALUES (:j, :k, :s, :st)"
                        ),
                        values,
                    )

    def of_kind(self, *kinds: str) -> list[Property]:
        with self.db.read() as conn:
            rows = conn.execute(
                text("SELECT job_id, kind, spec, state FROM ci_job_properties ORDER BY job_id, kind")
            ).all()
        return [Property(r.job_id, r.kind, r.spec, json.loads(r.state)) for r in rows if r.kind in kinds]

    def of_job(self, job_id: int) -> dict[str, Property]:
        with self.db.read() as conn:
            rows = conn.execute(
                text("SELECT job_id, kind, spec, state FROM ci_job_properties WHERE job_id = :j"),
                {"j": job_id},
            ).all()
        return {r.kind: Property(r.job_id, r.kind, r.spec, json.loads(r.state)) for r in rows}

    def registered_by(self, job_id: int) -> str:
        """Who pushed the pipeline that registered the job's triggers ('' when unknown)."""
        return next((str(p.state.get("by", "")) for p in self.of_job(job_id).values()), "")

    def set_state(self, job_id: int, kind: str, state: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                text("UPDATE ci_job_properties SET state = :st WHERE job_id = :j AND kind = :k"),
                {"st": json.dumps(state), "j": job_id, "k": kind},
            )

    def quiet_period(self, job_id: int) -> float:
        """Seconds a queued build of the job waits before it may start (options quietPeriod)."""
        prop = self.of_job(job_id).get("quietPeriod")
        return float(prop.spec) if prop else 0.0


class TriggerLoop:
    """Queues the builds that cron, pollSCM and upstream triggers ask for."""

    def __init__(
        self,
        store: CIStore,
        properties: JobProperties,
        clock: Clock,
        trigger: Callable[[Job, dict[str, Any], str], Build],
        enqueue: Callable[..., Build],
        base_url: Callable[[], str],
        git_root: Path,
        credentials: CredentialLookup | None = None,
    ) -> None:
        self.store, self.properties, self.clock = store, properties, clock
        self.trigger, self.enqueue = trigger, enqueue
        self.base_url, self.git_root, self.credentials = base_url, git_root, credentials
        self._task: asyncio.Task[None] | None = None
        self._specs: dict[tuple[str, str], CronSpec] = {}
        self.checked_through: datetime | None = None  # the last minute whose triggers were checked
        self.max_depth = MAX_DEPTH  # builds in one upstream chain, as for `build job:`

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        last: datetime | None = None
        while True:
            now = self.clock.now()
            if now is not None:
                minute = now.replace(second=0, microsecond=0)
                if last is None:
                    last = minute  # the minute the server started in is not run, as on Jenkins
                    self.checked_through = last
                elif minute > last:
                    start = last + timedelta(minutes=1)
                    if minute - start > MAX_CATCH_UP:
                        log.warning(
                            "cron triggers: %s of missed minutes skipped", minute - start - MAX_CATCH_UP
                        )
                        start = minute - MAX_CATCH_UP
                    while start <= minute:
                        try:
                            await self.tick(start)
                        except Exception:
                            log.exception("cron triggers: the check of %s failed", start.isoformat())
                        self.checked_through = start
                        start += timedelta(minutes=1)
                    last = minute
            wait = 60.0 - (now.second + now.microsecond / 1e6) if now else 1.0
            await self.clock.sleep(max(0.05, wait))

    def spec(self, job: Job, spec: str) -> CronSpec:
        key = (job.name, spec)
        if key not in self._specs:
            if len(self._specs) > 10_000:
                self._specs.clear()
            self._specs[key] = parse_cron(spec, job.name)  # H is hashed from the job's name
        return self._specs[key]

    async def tick(self, minute: datetime) -> list[Build]:
        """Queue what the specs scheduled for `minute` (an aware datetime): timers first, then
        the polls, several at once (a slow repository holds up neither timers nor other polls)."""
        due: list[tuple[Job, Property]] = []
        for prop in await asyncio.to_thread(self.properties.of_kind, *TIMED):
            try:
                job = await asyncio.to_thread(self.store.job_by_id, prop.job_id)
                if not job.disabled and self.spec(job, prop.spec).matches(minute):
                    due.append((job, prop))
            except (JobNotFound, CronError):
                continue
        queued: list[Build] = []
        for job, prop in due:
            if prop.kind == "cron":
                queued.extend(await self._guarded(self._timer, job, prop))
        slots = asyncio.Semaphore(POLLS_AT_ONCE)

        async def poll(job: Job, prop: Property) -> list[Build]:
            async with slots:
                return await self._guarded(self._poll, job, prop)

        for builds in await asyncio.gather(*(poll(j, p) for j, p in due if p.kind == "pollSCM")):
            queued.extend(builds)
        return queued

    async def _guarded(
        self, fn: Callable[[Job, Property], list[Build]], job: Job, prop: Property
    ) -> list[Build]:
        try:
            return await asyncio.to_thread(fn, job, prop)
        except JobError as e:
            log.warning("%s trigger of job %s: %s", prop.kind, job.name, e)
            return []

    def _waiting(self, job: Job, cause: str) -> bool:
        return any(b.job_id == job.id and b.cause == cause and b.state == QUEUED for b in self.store.queued())

    def _timer(self, job: Job, _prop: Property) -> list[Build]:
        if self._waiting(job, TIMER):
            return []  # Jenkins does not queue the same item twice
        build = self.trigger(job, {}, TIMER)
        log.info("cron trigger queued %s #%d", job.name, build.number)
        return [build]

    def _poll(self, job: Job, prop: Property) -> list[Build]:
        try:
            heads = remote_heads(job, self.base_url(), self.git_root, self.credentials)
        except PollError as e:
            log.warning("pollSCM of job %s: %s", job.name, e)
            return []
        known: dict[str, str] = dict(prop.state.get("heads", {}))
        built = {(b.git_branch, b.git_commit) for b in self.store.builds(job.name, limit=20)}
        builds = []
        for branch, sha in sorted(heads.items()):
            if known.get(branch) == sha or (branch, sha) in built:
                known[branch] = sha
                continue
            known[branch] = sha
            if self._waiting(job, SCM):
                continue
            build = self.enqueue(job, cause=SCM, commit=sha, branch=branch)
            log.info("pollSCM: %s %s moved to %s, queued #%d", job.name, branch, sha[:12], build.number)
            builds.append(build)
        if known != prop.state.get("heads"):
            self.properties.set_state(job.id, "pollSCM", {**prop.state, "heads": known})
        return builds

    # -- upstream ---------------------------------------------------------------
    def after_upstream(
        self, finished: Build, result: str, may_read: Callable[[Job, Job], bool], depth: int = 1
    ) -> list[Build]:
        """Queue the jobs whose `upstream` trigger names the finished build's job and whose
        threshold its result meets; `may_read(downstream, upstream)` is the permission check
        (Jenkins asks that the downstream job's owner can see the upstream job). `depth` is the
        finished build's upstream chain (itself included): jobs triggering each other in a
        circle stop at `max_depth` builds, as `build job:` chains do."""
        if result not in _RESULT_ORDER:
            return []
        builds = []
        for prop in self.properties.of_kind("upstream"):
            spec = json.loads(prop.spec)
            if finished.job_name not in spec["projects"] or spec["threshold"] not in THRESHOLDS:
                continue
            if _RESULT_ORDER.index(result) > _RESULT_ORDER.index(spec["threshold"]):
                continue
            try:
                job = self.store.job_by_id(prop.job_id)
                upstream = self.store.job_by_id(finished.job_id)
            except JobNotFound:
                continue
            if job.disabled or not may_read(job, upstream):
                log.warning("upstream trigger of %s: its owner may not see job %s", job.name, upstream.name)
                continue
            if depth >= self.max_depth:
                log.warning(
                    "upstream trigger of %s: not started after %s #%d, a chain of %d builds already"
                    " (at most %d): jobs that trigger each other in a loop?",
                    job.name,
                    finished.job_name,
                    finished.number,
                    depth,
                    self.max_depth,
                )
                continue
            try:
                builds.append(self.trigger(job, {}, upstream_cause(finished.job_name, finished.number)))
            except JobError as e:
                log.warning("upstream trigger of job %s: %s", job.name, e)
        return builds
