"""The scheduler: takes QUEUED builds from the database in order and runs them, within the
concurrency limit and one build per job at a time (unless the job allows concurrent builds).

Waking is event-driven (enqueue, finish, cancel call `wake()`); a slow poll covers anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dockyard.ci.build_delay import BuildDelays
from dockyard.ci.buildlog import BuildPaths, ConsoleLog, SecretMasker, Trace
from dockyard.ci.executor.interface import Executor
from dockyard.ci.executor.local import LocalExecutor, kill_leftovers
from dockyard.ci.podtemplate import CredentialLookup
from dockyard.ci.preserve_stashes import apply_stash_policy
from dockyard.ci.runner import DEFAULT_MAX_PARALLEL, BuildRunner, RunResult
from dockyard.ci.store import ABORTED, DONE, FAILURE, QUEUED, Build, CIStore, Job, JobNotFound
from dockyard.events import Event, EventBus

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        store: CIStore,
        ci_dir: Path,
        base_url: Callable[[], str],
        events: EventBus,
        credentials: CredentialLookup | None = None,
        limit: int | None = None,
        executor_factory: Callable[[], Executor] = LocalExecutor,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
        outgoing_hosts: str = "external",
    ) -> None:
        self.store = store
        self.outgoing_hosts = outgoing_hosts  # Settings.webhook_allowed_hosts
        self.ci_dir = ci_dir
        self.base_url = base_url
        self.events = events
        self.credentials = credentials
        self.limit = limit or os.cpu_count() or 1  # Settings.ci_executors
        self.executor_factory = executor_factory
        self.max_parallel = max_parallel
        self.running: dict[int, BuildRunner] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.loop: asyncio.AbstractEventLoop | None = None
        # after each build, once it is DONE (job properties, upstream triggers: dockyard.ci.triggers)
        self.finish_hooks: list[Callable[[Build, RunResult], Awaitable[None]]] = []
        # seconds a queued build waits before it may start (options quietPeriod)
        self.quiet_period: Callable[[int], float] = lambda _job_id: 0.0
        self.delays = BuildDelays()  # builds queued with ?delay=, which replaces the quiet period
        self.downstream: Any = None  # what `build job:` uses (dockyard.ci.downstream.Downstream)

    def paths(self, job_name: str, number: int) -> BuildPaths:
        return BuildPaths(self.ci_dir / job_name / str(number))

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        stale = await asyncio.to_thread(self.store.abort_interrupted)
        for b in stale:
            log.warning(
                "build %s #%d was running when Dockyard stopped: marked ABORTED", b.job_name, b.number
            )
            kill_leftovers(self.paths(b.job_name, b.number).root)
            with contextlib.suppress(OSError), open(self.paths(b.job_name, b.number).log, "ab") as f:
                f.write(
                    b"\n[dockyard] aborted: the Dockyard process stopped while this build was running\n"
                    b"Finished: ABORTED\n"
                )
        self._loop_task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        self._stopping = True
        if self._loop_task:
            self._loop_task.cancel()
        for runner in list(self.running.values()):
            await runner.abort("aborted: Dockyard is shutting down")
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=15)

    def wake(self) -> None:
        """Thread-safe: ask the loop to look at the queue now."""
        if self.loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._wake.set()
        else:
            self.loop.call_soon_threadsafe(self._wake.set)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                await self._dispatch()
            except Exception:
                log.exception("CI scheduler pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=2.0)

    async def _dispatch(self) -> None:
        queued = await asyncio.to_thread(self.store.queued)
        busy_jobs = {r.build.job_id for r in self.running.values()}
        for b in queued:
            if b.cancel_requested:
                await asyncio.to_thread(self.store.finish, b.id, ABORTED, "cancelled while queued")
                self.delays.forget(b.id)
                continue
            if len(self.running) >= self.limit:
                return
            try:
                job = await asyncio.to_thread(self.store.job_by_id, b.job_id)
            except JobNotFound:
                continue
            if b.job_id in busy_jobs and not job.concurrent:
                continue
            if b.queued_at + await asyncio.to_thread(self.wait_of, b) > time.time():
                continue
            if not await asyncio.to_thread(self.store.start, b.id):
                continue
            self.delays.forget(b.id)
            started = await asyncio.to_thread(self.store.build_by_id, b.id)
            assert started is not None
            busy_jobs.add(b.job_id)
            self._launch(job, started)

    def _launch(self, job: Job, build: Build) -> None:
        paths = self.paths(job.name, build.number)
        if paths.root.exists():  # a number reused after a job was deleted and recreated
            shutil.rmtree(paths.root, ignore_errors=True)
        paths.root.mkdir(parents=True, exist_ok=True)
        secrets = _url_secrets(job.scm_url)
        # every stored credential, not only those this build binds: a step may print one it
        # obtained some other way (the store's mask_values(), when the store offers it); one
        # masker built from all of them (each masker compiles every secret's forms)
        all_secrets = getattr(self.credentials, "mask_values", None)
        if callable(all_secrets):
            secrets += all_secrets()
        masker = SecretMasker(secrets)
        console = ConsoleLog(paths.log, masker)
        trace = Trace(paths.trace, build.queued_at, masker.mask_text)
        runner = BuildRunner(
            job,
            build,
            paths,
            console,
            trace,
            self.executor_factory(),
            self.credentials,
            self.base_url(),
            on_commit=lambda c, br: self.store.set_commit(build.id, c, br),
            max_parallel=self.max_parallel,
            outgoing_hosts=self.outgoing_hosts,
            previous_lookup=lambda: self.store.previous_result(build.job_id, build.number),
        )
        runner.downstream = self.downstream
        self.running[build.id] = runner
        self.events.publish(
            Event("ci.build.started", {"job": job.name, "number": build.number, "commit": build.git_commit})
        )
        self._status(build, build.git_commit, "pending", f"Build #{build.number} is running")
        task = asyncio.create_task(self._run(runner))
        self._tasks[build.id] = task

    async def _run(self, runner: BuildRunner) -> None:
        b = runner.build
        result: RunResult | None = None
        try:
            result = await runner.run()
        except Exception as e:  # a bug in Dockyard must still end the build, never leave it RUNNING
            log.exception("build %s #%d crashed", b.job_name, b.number)
            runner.log.line(f"ERROR: internal error in Dockyard: {e}\nFinished: FAILURE")
            result = RunResult(FAILURE, f"internal error: {e}")
        finally:
            final = result or RunResult(ABORTED, "cancelled")
            runner.log.close()
            runner.trace.save(durable=True)
            # before the build shows as completed: whoever sees it DONE sees its stashes settled
            await asyncio.to_thread(self._stash_policy, b, final.pipeline.options.preserve_stashes
                                    if final.pipeline else None)
            await asyncio.to_thread(self.store.finish, b.id, final.result, final.reason)
            self.running.pop(b.id, None)
            self._tasks.pop(b.id, None)
            if final.pipeline:  # Jenkins records the pipeline's parameters {} on the job
                await asyncio.to_thread(self.store.record_parameters, b.job_id, final.pipeline.parameters)
            keep = final.pipeline.options.keep_builds if final.pipeline else None
            if keep:
                await asyncio.to_thread(self._discard_old, b.job_id, keep)
            done = await asyncio.to_thread(self.store.build_by_id, b.id)
            for hook in self.finish_hooks:
                try:
                    await hook(done or b, final)
                except Exception:
                    log.exception("after build %s #%d", b.job_name, b.number)
            self.events.publish(
                Event(
                    "ci.build.finished",
                    {
                        "job": b.job_name,
                        "number": b.number,
                        "result": final.result,
                        "commit": done.git_commit if done else b.git_commit,
                        "url": f"{self.base_url()}/job/{b.job_name}/{b.number}/",
                    },
                )
            )
            state = {"SUCCESS": "success", "FAILURE": "failure", "UNSTABLE": "warning"}.get(
                final.result, "error"
            )
            self._status(
                b, done.git_commit if done else b.git_commit, state, f"Build #{b.number}: {final.result}"
            )
            self.wake()

    def _status(self, b: Build, sha: str, state: str, description: str) -> None:
        """A Gitea CreateStatusOption for the pushed commit, as a bus event (`ci.status`): the git
        server (or any forge adapter) subscribes and records it."""
        if not (b.source_repo and sha):
            return
        self.events.publish(
            Event(
                "ci.status",
                {
                    "full_name": b.source_repo,
                    "sha": sha,
                    "state": state,
                    "description": description,
                    "context": f"dockyard/{b.job_name}",
                    "target_url": f"{self.base_url()}/job/{b.job_name}/{b.number}/",
                },
            )
        )

    def _stash_policy(self, b: Build, keep: int | None) -> None:
        """dockyard.ci.preserve_stashes; never in the way of the build's end being recorded."""
        try:
            done = [x.number for x in self.store.builds(b.job_name, 1000) if x.state == DONE] if keep else []
            apply_stash_policy(self.ci_dir / b.job_name, b.number, keep, done)
        except Exception:
            log.exception("clearing the stashes of %s #%d failed", b.job_name, b.number)

    def _discard_old(self, job_id: int, keep: int) -> None:
        try:
            job = self.store.job_by_id(job_id)
        except JobNotFound:
            return
        for n in self.store.prune(job, keep):
            shutil.rmtree(self.paths(job.name, n).root, ignore_errors=True)

    async def cancel(self, build: Build, reason: str) -> None:
        if build.state == QUEUED:
            await asyncio.to_thread(self.store.request_cancel, build.id)
            self.wake()
            return
        runner = self.running.get(build.id)
        if runner is not None:
            await runner.abort(reason)

    def enqueue(self, job: Job, delay: int | None = None, **kwargs: Any) -> Build:
        """Queues a build; `delay` (seconds, `?delay=`) replaces its job's quiet period."""
        build = self.delays.enqueue(lambda: self.store.enqueue(job, **kwargs), delay)
        self.wake()
        return build

    def wait_of(self, build: Build) -> float:
        """Seconds the queued `build` waits before it may start (its delay or quiet period)."""
        return self.delays.wait_of(build, self.quiet_period)

    def queue_wait(self, build: Build) -> float:
        return (build.started_at or time.time()) - build.queued_at


def _url_secrets(url: str) -> list[str]:
    from dockyard.ci.scm import strip_credentials

    _, _, password = strip_credentials(url)
    return [password] if password else []
