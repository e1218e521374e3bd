"""The CI component as the server composes it: store, scheduler, triggers and HTTP routes.

`CIService` implements `dockyard.services.Component` (for the server) and `CIOperations` (for
its route modules, which depend on that protocol only). The agent backend is passed in (default: local).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

from dockyard.auth import AuthService, Principal
from dockyard.ci.access import JobAccess, RepoRole
from dockyard.ci.backends import LocalBackend
from dockyard.ci.causes import pushed_by, started_by
from dockyard.ci.clock import Clock, SystemClock
from dockyard.ci.component import ExecutorBackend
from dockyard.ci.csrf import CrumbIssuer
from dockyard.ci.downstream import Downstream
from dockyard.ci.errors import ForbiddenParameter, PipelineError
from dockyard.ci.hooks import hook_routes
from dockyard.ci.jenkins_api import jenkins_routes
from dockyard.ci.jobxml import JobConfigError, parse_job_xml
from dockyard.ci.migrations import MIGRATIONS
from dockyard.ci.model import Parameter
from dockyard.ci.native_api import native_routes
from dockyard.ci.params import forbidden_env_name, forbidden_env_value
from dockyard.ci.parsing import parse_pipeline
from dockyard.ci.podtemplate import CredentialLookup
from dockyard.ci.runner import DEFAULT_MAX_PARALLEL, RunResult
from dockyard.ci.scheduler import Scheduler
from dockyard.ci.scm import branch_matches, equivalent_keys, local_repo, repo_key
from dockyard.ci.store import Build, CIStore, Job, JobError, JobNotFound
from dockyard.ci.triggers import JobProperties, TriggerLoop
from dockyard.ci.triggers_api import trigger_routes
from dockyard.credentials import SecretBox, load_or_create_key
from dockyard.events import PUSH, EventBus, PushEvent
from dockyard.store import Database

log = logging.getLogger(__name__)


class CIService:
    migrations = MIGRATIONS

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
        secrets_dir: Path | None = None,
        repo_role: RepoRole | None = None,
        executor: ExecutorBackend | None = None,
        max_parallel: int | None = None,
        outgoing_hosts: str = "external",
        clock: Clock | None = None,
    ) -> None:
        max_parallel = max_parallel or DEFAULT_MAX_PARALLEL  # Settings.ci_max_parallel
        # job XML and password parameters are sealed with the credentials key (DATA/secrets)
        key = load_or_create_key(secrets_dir or ci_dir.parent / "secrets")
        self.store = CIStore(db, SecretBox(key))
        sealed = self.store.seal_plaintext()
        if sealed:
            log.info("sealed the config of %d CI job(s) stored in clear by an older Dockyard", sealed)
        self.auth = auth
        self.events = events
        self.ci_dir = ci_dir
        self.base_url = base_url
        self.credentials = credentials
        self.crumbs = CrumbIssuer(auth)
        self.access = JobAccess(repo_role, base_url)
        # steps never see the data directory (DATA/ci's parent)
        self.executor = executor or LocalBackend(hidden=(ci_dir.parent,))
        self.scheduler = Scheduler(
            self.store,
            ci_dir,
            base_url,
            events,
            credentials,
            executors,
            executor_factory=self.executor.new,
            max_parallel=max_parallel,
            outgoing_hosts=outgoing_hosts,
        )
        self.webhook_secret = webhook_secret
        events.subscribe(PUSH, self.on_git_push)
        self.properties = JobProperties(db)
        self.triggers = TriggerLoop(
            self.store, self.properties, clock or SystemClock(), self.trigger, self.scheduler.enqueue,
            base_url, ci_dir.parent / "git", credentials,
        )
        self.scheduler.finish_hooks.append(self._after_build)
        self.scheduler.quiet_period = self.properties.quiet_period
        self.downstream = Downstream(self.store, self.access, self.deciders, self.trigger, self.scheduler)
        self.scheduler.downstream = self.downstream

    def routes(self) -> list[BaseRoute]:
        return [
            *jenkins_routes(self),
            *trigger_routes(self, self.properties, self.triggers),
            *native_routes(self),
            *hook_routes(self),
        ]

    async def start(self) -> None:
        self.ci_dir.mkdir(parents=True, exist_ok=True)
        await self.executor.start()
        await self.scheduler.start()
        await self.triggers.start()

    async def stop(self) -> None:
        await self.triggers.stop()
        await self.scheduler.stop()
        await asyncio.to_thread(self.executor.close)

    # -- triggers ---------------------------------------------------------------
    async def _after_build(self, build: Build, result: RunResult) -> None:
        """A run that read its pipeline makes its triggers and quiet period the job's (Jenkins'
        job properties); a finished build starts the jobs whose `upstream` trigger waits for it."""
        if result.pipeline is not None:
            await asyncio.to_thread(
                self.properties.register, build.job_id, result.pipeline, build.git_commit, build.git_branch,
                pushed_by(build.cause) or "",
            )
        depth = len(await asyncio.to_thread(self.downstream.chain, build.job_name, build.number))
        await asyncio.to_thread(
            self.triggers.after_upstream, build, result.result, self._owner_may_read, depth
        )

    def _owner_may_read(self, job: Job, other: Job) -> bool:
        """Whether `job`'s owner may see `other` (an upstream trigger reads other jobs' results)."""
        principals = self.deciders(job, "")
        return bool(principals) and all(self.access.can_read(p, other) for p in principals)

    def deciders(self, job: Job, cause: str) -> list[Principal]:
        """Whose rights a build of `job` started by `cause` acts with (`dockyard.ci.downstream`):
        the user who started it, the job's owner (its repository's owner on this Dockyard when
        that is a user, or the administrator who created a job outside them). A build no user
        started (timer, poll, upstream trigger; `cause` '' asks for those) is also checked as the
        user whose push brought the pipeline that registered the job's triggers: a collaborator's
        Jenkinsfile run by a timer borrows none of the owner's rights."""
        names = [started_by(cause) or self.properties.registered_by(job.id)]
        on_server = local_repo(job.scm_url, self.base_url()) if self.access.repo_role else None
        # an organisation owns no user account: only the user who started the build is checked
        names.append(on_server.partition("/")[0] if on_server else job.created_by)
        out = []
        for name in dict.fromkeys(n for n in names if n):
            user = self.auth.get_user(name)
            if user is not None and not user.disabled:
                out.append(Principal(user.id, user.username, bool(user.is_admin), via="job"))
        return out

    def on_git_push(self, event: PushEvent) -> None:
        """`git.push` from Dockyard's git server: queue every job watching that repo and branch.
        Runs on the bus (in the event loop), so it only hands the work to a thread."""
        loop = self.scheduler.loop
        if loop is None:
            self.push(event)
            return
        loop.call_soon_threadsafe(lambda: asyncio.ensure_future(asyncio.to_thread(self._push_logged, event)))

    def _push_logged(self, event: PushEvent) -> None:
        try:
            self.push(event)
        except Exception:
            log.exception("queueing builds for a push failed")

    def push(self, event: PushEvent) -> list[Build]:
        """Queue builds for one pushed branch (from the bus or a forge's webhook)."""
        branch = event.branch
        if not branch or event.deleted:
            return []
        key = repo_key(event.clone_url)
        builds = []
        for job in self.store.jobs_for_repo(equivalent_keys(event.clone_url)):
            if not branch_matches(job.branch_spec, branch):
                continue
            cause = f"push by {event.pusher or 'unknown'} to {branch} ({event.after[:12]})"
            build = self.scheduler.enqueue(
                job,
                cause=cause,
                commit=event.after,
                branch=branch,
                clone_from=event.git_dir,
                source_repo=event.full_name,
            )
            log.info("push to %s %s queued %s #%d", key, branch, job.name, build.number)
            builds.append(build)
        if not builds:
            log.info("push to %s %s: no job watches this repository and branch", key, branch)
        return builds

    def trigger(self, job: Job, params: dict[str, Any], cause: str, delay: int | None = None) -> Build:
        """Queue a build with `params`: only parameters the job or its pipeline declares reach a
        build (Jenkins' rule since SECURITY-170), and never one that names an environment
        variable a shell or loader interprets; both refusals name the parameters."""
        if job.disabled:
            raise JobError(f"job {job.name!r} is disabled")
        for name in params:
            why = forbidden_env_name(name)
            if why:
                raise JobError(why)
        declared = self.declared_parameters(job)
        undeclared = sorted(set(params) - set(declared))
        if undeclared:
            known = ", ".join(sorted(declared)) or "none"
            raise JobError(
                f"job {job.name!r} does not declare the parameter(s) {', '.join(undeclared)}"
                f" (declared: {known}): declare them in the job's config.xml or the pipeline's"
                " parameters { } block; undeclared parameters never reach a build"
            )
        # defaults of the job XML's parameters; the pipeline's own defaults are applied by the
        # runner from the pipeline file of the build's commit (they may have changed since)
        values = {p.name: p.default for p in job.config.parameters if not forbidden_env_name(p.name)}
        for name, value in params.items():
            values[name] = _coerce(declared[name], value)
            why = forbidden_env_value(name, str(values[name]))
            if why:
                raise JobError(why)
        secret = frozenset(n for n, p in declared.items() if p.kind == "password" and n in values)
        return self.scheduler.enqueue(job, delay, cause=cause, params=values, secret_names=secret)

    def visible_job(self, principal: Principal, name: str) -> Job:
        """The job named `name` if the principal may see it; JobNotFound (404) otherwise."""
        return self.access.check(principal, self.store.job(name))

    def runnable_job(self, principal: Principal, name: str) -> Job:
        """The job named `name` if the principal may trigger, stop or cancel its builds (write on
        its repository, as for `git push`); JobNotFound (404) if hidden, JobForbidden (403) else."""
        return self.access.check_run(principal, self.store.job(name))

    def visible_build(self, principal: Principal, build: Build | None) -> Build | None:
        """`build` if the principal may see its job, else None (callers answer 404)."""
        if build is None:
            return None
        try:
            self.visible_job(principal, build.job_name)
        except JobNotFound:
            return None
        return build

    def visible_jobs(self, principal: Principal) -> list[Job]:
        return [j for j in self.store.jobs() if self.access.can_read(principal, j)]

    def visible_queue(self, principal: Principal) -> list[Build]:
        visible = {j.id for j in self.visible_jobs(principal)}
        return [b for b in self.store.queued() if b.job_id in visible]

    def check_job_xml(self, config_xml: str) -> None:
        """Refuse job XML whose inline pipeline declares a forbidden parameter name (the XML's own
        parameters are checked by parse_job_xml); other script errors surface at build time."""
        inline = parse_job_xml(config_xml).inline_script
        if inline:
            try:
                parse_pipeline(inline, "Jenkinsfile")
            except ForbiddenParameter as e:
                raise JobConfigError(str(e)) from None
            except PipelineError:
                pass

    def declared_parameters(self, job: Job) -> dict[str, Parameter]:
        """The job's declared parameters; for an inline pipeline also its `parameters { }`
        (a script that does not parse declares nothing: its build fails with the error)."""
        declared = job.declared_parameters()
        inline = job.config.inline_script
        if inline:
            try:
                pipeline = parse_pipeline(inline, "Jenkinsfile")
            except PipelineError:
                return declared
            for p in pipeline.parameters:
                declared.setdefault(p.name, p)
        return declared


def _coerce(p: Parameter, value: Any) -> Any:
    if p.kind == "booleanParam":
        return str(value).lower() in ("true", "1", "on", "yes")
    if p.kind == "choice" and p.choices and str(value) not in p.choices:
        raise JobError(f"parameter {p.name}: {value!r} is not one of {', '.join(p.choices)}")
    return str(value)
