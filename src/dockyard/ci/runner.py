"""Runs one build: checkout, read the pipeline, set up the agent, then orchestrate stages,
parallel branches, environments and post blocks. Steps themselves live in `dockyard.ci.steps`
(one module each); the runner looks each call up there and runs it through `StepHost`.

Failure semantics follow Jenkins: a failing step fails its stage and the build, later stages are
skipped, `post` blocks run by result (always, then aborted/failure/success/unstable, then
cleanup). Stop and timeouts go through `abort(reason)`, which kills the running processes.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from dockyard.ci.branches import (
    BranchInputs,
    BranchScope,
    enter_stage,
    leave_stage,
    run_branches,
    scope_of,
    stage_path,
)
from dockyard.ci.buildlog import BuildPaths, ConsoleLog, Trace
from dockyard.ci.checkout import checkout_workspace
from dockyard.ci.errors import PipelineError, check_size
from dockyard.ci.executor.interface import AgentSpec, Executor, ExecutorError, StepHandle
from dockyard.ci.executor.kubernetes_pod import EXECUTOR_ANNOTATION, template_annotation
from dockyard.ci.groovy.interpreter import evaluate, start_session
from dockyard.ci.groovy.values import to_string, truth
from dockyard.ci.input_state import InputAnswer, PendingInput
from dockyard.ci.model import Call, Condition, EnvVar, Parameter, Pipeline, Post, Stage, Step
from dockyard.ci.params import forbidden_env_name
from dockyard.ci.parsing import parse_pipeline_off_loop
from dockyard.ci.podtemplate import CredentialLookup, parse_pod_template
from dockyard.ci.post_conditions import HISTORY_CONDITIONS, POST_CONDITIONS, post_conditions
from dockyard.ci.replay import replay_script
from dockyard.ci.restart import RestartPlan, restart_plan, save_script, save_stage_results, skip_for_restart
from dockyard.ci.scm import branch_glob, local_owner, strip_credentials
from dockyard.ci.stage_input import stage_input_env
from dockyard.ci.steps import BuildAborted, BuildCredentials, Ctx, StepFailed, interpolate, step_for
from dockyard.ci.steps.build_info import save_build_info
from dockyard.ci.steps.checkout import set_aside_checkout
from dockyard.ci.steps.timestamps import timestamped
from dockyard.ci.store import ABORTED, FAILURE, SUCCESS, UNSTABLE, Build, Job
from dockyard.credentials import job_credentials
from dockyard.http import HostMatchList

YAML_PIPELINES = (".dockyard.yml", ".dockyard.yaml")
# Steps that read or write workspace files on Dockyard's side. With an executor whose workspace
# lives elsewhere (Kubernetes: `pull_workspace`/`push_workspace`), Dockyard's copy is replaced by
# the agent's before each of them, and the writing ones send it back after.
WRITES_WORKSPACE = frozenset(
    {"writeFile", "writeJSON", "writeYaml", "writeYAML", "deleteDir", "cleanWs", "unstash"}
)
FILE_STEPS = WRITES_WORKSPACE | {
    "readFile",
    "fileExists",
    "readJSON",
    "readYaml",
    "readYAML",
    "archiveArtifacts",
    "junit",
    "stash",
}
# parallel branches of one build running steps at once (DOCKYARD_CI_MAX_PARALLEL)
DEFAULT_MAX_PARALLEL = 16

__all__ = [
    "DEFAULT_MAX_PARALLEL",
    "BuildAborted",
    "BuildPaths",
    "BuildRunner",
    "Ctx",
    "RunResult",
    "StepFailed",
]


@dataclass
class RunResult:
    result: str
    reason: str = ""
    pipeline: Pipeline | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)


class BuildRunner:
    """One build's orchestration; implements `StepHost` for the steps it runs."""

    downstream: Any = None  # `build job:`'s access to other jobs (set by the scheduler)

    def __init__(
        self,
        job: Job,
        build: Build,
        paths: BuildPaths,
        log: ConsoleLog,
        trace: Trace,
        executor: Executor,
        credentials: CredentialLookup | None,
        base_url: str,
        on_commit: Callable[[str, str], None] | None = None,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
        outgoing_hosts: str = "external",
        previous_lookup: Callable[[], str | None] | None = None,
    ) -> None:
        self.job, self.build, self.paths = job, build, paths
        self.log, self.trace, self.executor = log, trace, executor
        owner = build.source_repo.partition("/")[0] or local_owner(job.scm_url, base_url)
        self.store = credentials  # the whole store: only for the cloud's own settings (AgentSpec)
        scoped = job_credentials(credentials, job.name, repo_owner=owner)
        self.credentials = BuildCredentials(scoped, log.masker, paths.root / "secrets")
        self.base_url = base_url
        # which other hosts the server may call for a step (gitopsSetImage): the webhook allow-list
        self.outgoing_hosts = HostMatchList.parse(outgoing_hosts)
        self.on_commit = on_commit
        # the previous completed build's result, for post { changed / fixed / regression }
        self.previous_lookup = previous_lookup
        self._previous: tuple[str | None] | None = None
        self.job_name, self.build_number = job.name, build.number
        self.pending_inputs: dict[str, PendingInput] = BranchInputs(self)  # by id (failFast ends theirs)
        self.max_parallel = max(1, max_parallel)
        self.abort_reason: str | None = None
        self.root_scope = BranchScope(self)  # `failed` and failFast stops, per parallel branch
        self.failed = False
        self.unstable = False
        self.marked = SUCCESS  # currentBuild.result = ..., catchError, unstable(): the build goes on
        self.stage_marks: dict[tuple[str, ...], str] = {}  # the same for stages, by stage path
        self.aborted_before_post = False
        self.stage_results: list[dict[str, Any]] = []
        self._handles: list[StepHandle] = []
        self._setup: asyncio.Future[None] | None = None  # the agent being set up (abort cancels it)
        self._slots = asyncio.Semaphore(self.max_parallel)
        self.pipeline: Pipeline | None = None
        self.restart: RestartPlan | None = None  # a restart from a stage (dockyard.ci.restart)
        self.default_container: str | None = None

    # -- control ----------------------------------------------------------------
    @property
    def aborted(self) -> bool:
        return self.abort_reason is not None or scope_of(self).stop_reason() is not None

    @property
    def failed(self) -> bool:
        return scope_of(self).failed

    @failed.setter
    def failed(self, value: bool) -> None:
        scope_of(self).failed = value

    async def abort(self, reason: str) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
            self.log.line(f"[dockyard] {reason}")
        for pending in list(self.pending_inputs.values()):  # an `input` waiting ends now
            pending.settle(InputAnswer(proceed=False, by=""))
        if self._setup is not None:  # waiting for a pod (or a slot of the cap) ends now
            self._setup.cancel()
        for h in list(self._handles):
            await self.executor.kill(h)

    @asynccontextmanager
    async def running(self, handle: StepHandle) -> AsyncIterator[None]:
        """A started step process: killed by `abort`, and when its step is cancelled (timeout)."""
        self._handles.append(handle)
        scopes = scope_of(self).chain()  # failFast kills the steps of a stopped branch
        for scope in scopes:
            scope.handles.append(handle)
        try:
            yield
        except asyncio.CancelledError:
            await self.executor.kill(handle)
            raise
        finally:
            self._handles.remove(handle)
            for scope in scopes:
                scope.handles.remove(handle)

    # -- the build --------------------------------------------------------------
    async def run(self) -> RunResult:
        b = self.build
        started = b.started_at or time.time()
        self.trace.mark("phase", "queued", b.queued_at, started)
        self.mask_passwords(self.job.config.parameters)
        self.log.line(f"Started by {b.cause or 'user'}")
        self.log.line(f"Running on Dockyard in {self.paths.workspace}")
        groovy = start_session(self)
        try:
            _refuse_forbidden(b.params)
            commit, branch = await self.checkout()
            env = self.base_env(commit, branch)
            pipeline = await self.load_pipeline()
            self.pipeline = pipeline
            if pipeline.options.skip_default_checkout:  # `checkout scm` brings it back
                set_aside_checkout(self.paths)
            if pipeline.options.timestamps:
                self.log = timestamped(self.log)
            await self.setup_agent(pipeline)  # before the environment: its values may run sh
            env = await self.pipeline_env(pipeline, env)
            ctx = Ctx(env, self.paths.workspace)
            groovy.root_env = ctx.env  # env.X = ... in a script reaches the later stages
            timeout = pipeline.options.timeout_seconds
            watchdog = asyncio.create_task(self._watchdog(timeout)) if timeout else None
            stages = pipeline.stages
            if self.restart is not None:
                stages = skip_for_restart(self.restart, stages, self.log, self.trace, self.stage_results)
            try:
                await self.run_stages(stages, ctx)
            except BuildAborted:
                pass
            finally:
                if watchdog:
                    watchdog.cancel()
            await self.run_post(pipeline.post, ctx, "pipeline")
        except (PipelineError, StepFailed, ExecutorError) as e:
            self.log.line(f"ERROR: {e}")
            self.failed = True
        except BuildAborted:
            pass
        finally:
            with self.trace.span("phase", "agent teardown"):
                await self.executor.destroy()
                shutil.rmtree(self.paths.root / "secrets", ignore_errors=True)  # credentials('id') files
            save_stage_results(self.paths, self.stage_results)  # which stages a restart may start at
        result = self.result()
        self.log.line(f"Finished: {result}")
        return RunResult(result, self.abort_reason or "", self.pipeline, self.stage_results)

    def result(self) -> str:
        if self.abort_reason is not None or self.aborted_before_post:
            return ABORTED
        if self.failed or self.marked == FAILURE:
            return FAILURE
        return UNSTABLE if self.unstable or self.marked == UNSTABLE else SUCCESS

    current_result = result

    def mark_result(self, result: str, stage: str = "", stage_result: str | None = None) -> None:
        """The build's result gets (never better) `result` while it goes on, as Jenkins'
        currentBuild.result = ..., unstable() and catchError do; so does `stage`'s, with
        `stage_result` when it differs (catchError(buildResult:, stageResult:))."""
        order = (SUCCESS, UNSTABLE, FAILURE)
        if stage and (stage_result or result) in order:
            mark = stage_result or result
            path = stage_path()  # the stage and those around it (a matrix cell, its matrix stage)
            for key in (path[:n] for n in range(1, len(path) + 1)):
                if order.index(mark) > order.index(self.stage_marks.get(key, SUCCESS)):
                    self.stage_marks[key] = mark
        if result in order and order.index(result) > order.index(self.marked):
            self.marked = result
        elif result == ABORTED and self.abort_reason is None:
            self.marked = FAILURE

    def set_build_info(self, **values: str | None) -> None:
        save_build_info(self.paths.root, **values)

    async def _watchdog(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.abort(f"Timeout has been exceeded ({seconds:g} s, options timeout)")

    def mask_passwords(self, declared: Iterable[Parameter]) -> None:
        """Password parameters are masked like credentials: their value and their default (those
        the job declares, the pipeline declares, and those the build was queued with as secret)."""
        params = self.build.params
        names = {p.name for p in declared if p.kind == "password"} | set(self.build.secret_names)
        self.log.masker.add([str(p.default) for p in declared if p.kind == "password"])
        self.log.masker.add([str(params[n]) for n in names if n in params])

    # -- checkout ---------------------------------------------------------------
    async def checkout(self) -> tuple[str, str]:
        """The job's commit in a fresh workspace (("", "") for an inline script without a repo)."""
        commit, branch = await checkout_workspace(
            self.job, self.build, self.paths.workspace, self.log, self.trace, self.credentials
        )
        if commit and self.on_commit:
            self.on_commit(commit, branch)
        return commit, branch

    # -- pipeline ---------------------------------------------------------------
    async def load_pipeline(self) -> Pipeline:
        text, filename = await asyncio.to_thread(self.pipeline_source)
        save_script(self.paths, text, filename)  # what a restart from a stage runs again
        return await parse_pipeline_off_loop(text, filename)

    def pipeline_source(self) -> tuple[str, str]:
        """(text, file name) of the pipeline to run: a restart's origin script, a replayed one, the
        job's inline script or the repository's file at this commit."""
        self.restart = restart_plan(self.paths, self.build)
        if self.restart is not None:
            self.log.line(self.restart.console)
            return self.restart.script, self.restart.filename
        try:
            replayed = replay_script(self.paths, self.build)
        except FileNotFoundError as e:
            raise StepFailed(f"cannot replay: {e}") from None
        if replayed is not None:
            self.log.line(f"Replayed: an edited Jenkinsfile, not the repository's ({self.build.cause})")
            return replayed, "Jenkinsfile"
        inline = self.job.config.inline_script
        if inline:
            return inline, "Jenkinsfile"
        ws = self.paths.workspace
        script_path = self.job.script_path
        path = ws / script_path
        if not path.is_file() and script_path == "Jenkinsfile":
            for alt in YAML_PIPELINES:
                if (ws / alt).is_file():
                    path, script_path = ws / alt, alt
                    break
        if not path.resolve().is_relative_to(ws.resolve()) or not path.is_file():
            raise StepFailed(
                f"{script_path} not found in the repository at this commit (the job's"
                " scriptPath; add it or change the job)"
            )
        check_size(path.stat().st_size, script_path)  # before reading a huge file whole
        return path.read_text(errors="replace"), script_path

    def base_env(self, commit: str, branch: str) -> dict[str, str]:
        b, job = self.build, self.job
        build_url = f"{self.base_url}/job/{job.name}/{b.number}/"
        env = {
            "BUILD_NUMBER": str(b.number),
            "BUILD_ID": str(b.number),
            "BUILD_TAG": f"jenkins-{job.name}-{b.number}",
            "JOB_NAME": job.name,
            "JOB_BASE_NAME": job.name,
            "WORKSPACE": str(self.paths.workspace),
            "BUILD_URL": build_url,
            "JOB_URL": f"{self.base_url}/job/{job.name}/",
            "JENKINS_URL": self.base_url + "/",
            "DOCKYARD_URL": self.base_url,
            "CI": "true",
        }
        if commit:
            env.update({"GIT_COMMIT": commit, "GIT_BRANCH": f"origin/{branch}", "BRANCH_NAME": branch})
            url = strip_credentials(self.job.scm_url)[0]
            if url:
                env["GIT_URL"] = url
        for name, value in b.params.items():
            env[name] = _param_value(value)
        return env

    async def pipeline_env(self, pipeline: Pipeline, env: dict[str, str]) -> dict[str, str]:
        """Adds the pipeline's declared parameters (defaults) and its environment block."""
        _refuse_forbidden(p.name for p in pipeline.parameters)
        self.mask_passwords(pipeline.parameters)
        for p in pipeline.parameters:
            if p.name not in env:
                env[p.name] = _param_value(p.default)
        return await self.apply_environment(pipeline.environment, env)

    async def apply_environment(self, entries: tuple[EnvVar, ...], env: dict[str, str]) -> dict[str, str]:
        env = dict(env)
        for e in entries:
            if e.credential_id:
                env.update(self.credentials.env(e.name, e.credential_id))
            elif e.code is not None:  # a Groovy expression: sh(returnStdout: true, ...).trim()
                env[e.name] = to_string(await evaluate(e.code, Ctx(env, self.paths.workspace), self))
            else:
                env[e.name] = interpolate(e.value, env)
        return env

    # -- agent ------------------------------------------------------------------
    async def setup_agent(self, pipeline: Pipeline) -> None:
        agent = pipeline.agent
        pod_yaml = agent.pod_yaml if agent.kind == "kubernetes" else ""
        pick = getattr(self.executor, "pick", None)
        if callable(pick):  # the backend serves several executors: the pipeline may choose
            self.executor = pick(template_annotation(pod_yaml, EXECUTOR_ANNOTATION))
        remote = self.executor.name == "kubernetes"  # the cluster mounts the template's Secrets
        with self.trace.span("phase", "agent ready", executor=self.executor.name):
            containers: dict[str, Any] = {}
            if agent.kind == "kubernetes" and not remote:
                containers, masks = parse_pod_template(agent.pod_yaml, self.credentials.lookup)
                self.log.masker.add(masks)
            elif agent.kind == "label":
                self.log.line(f"[dockyard] agent label '{agent.label}': the local agent serves every label")
            for stage in _all_stages(pipeline.stages):
                if stage.agent is not None and stage.agent.kind == "kubernetes":
                    raise StepFailed(
                        f"{stage.pos}: stage-level kubernetes agents are not supported; put the"
                        " containers in the pipeline's agent"
                    )
            own = urlsplit(self.base_url).netloc
            spec = AgentSpec(
                self.paths.workspace,
                self.paths.root,
                containers,
                [own] if own else [],
                pod_yaml=pod_yaml,
                job=self.job.name,
                number=self.build.number,
                build_url=f"{self.base_url}/job/{self.job.name}/{self.build.number}/",
                timeout_seconds=pipeline.options.timeout_seconds,
                cloud_credentials=self.store,
            )
            self._setup = asyncio.ensure_future(self.executor.setup(spec, self.log))
            try:
                await self._setup
            except asyncio.CancelledError:
                if self.abort_reason is None or not self._setup.cancelled():
                    raise
                raise BuildAborted() from None
            finally:
                self._setup = None
            self.default_container = agent.default_container or None
            fallback = getattr(self.executor, "credential_fallback", None)
            if callable(fallback):  # credentials('id') may name the cluster's Secrets
                self.credentials.store = await fallback(self.credentials.store, credential_ids(pipeline))

    # -- stages -----------------------------------------------------------------
    async def run_stages(self, stages: tuple[Stage, ...], ctx: Ctx) -> None:
        for stage in stages:
            await self.run_stage(stage, ctx)

    async def run_stage(self, stage: Stage, ctx: Ctx, branch: bool = False) -> None:
        """One stage; a parallel `branch` of steps holds one of the build's parallel slots while
        it runs (nested stages and parallels hold none, so that they cannot starve their own)."""
        if branch and stage.steps:
            async with self._slots:
                await self._run_stage(stage, ctx)
        else:
            await self._run_stage(stage, ctx)

    async def _run_stage(self, stage: Stage, ctx: Ctx) -> None:
        record: dict[str, Any] = {"name": stage.name, "status": "SKIPPED", "start": time.time(), "end": None}
        self.stage_results.append(record)
        if self.failed or self.aborted:
            why = "earlier failure(s)" if self.failed else (scope_of(self).stop_reason() or "abort")
            self.log.line(f'Stage "{stage.name}" skipped due to {why}')
            record.update(end=time.time(), skipped="failure" if self.failed else "abort")
            return
        asked_first = stage.input is not None and not stage.when_before_input  # Jenkins' order
        env = ctx.env if asked_first else await self.apply_environment(stage.environment, ctx.env)
        if not asked_first and not await self.conditions(stage.when, replace(ctx, env=env)):
            self.log.line(f'Stage "{stage.name}" skipped due to when conditional')
            record["end"] = time.time()
            return
        self.log.line(f"[Pipeline] {{ ({stage.name})")
        path = enter_stage(stage.name)
        inner = replace(ctx, env=env, stage=stage.name, container=ctx.container or self.default_container)
        failed_before = self.failed
        entered = stage.input is None  # a stage's post runs once its input has been proceeded
        with self.trace.span("stage", stage.name) as span:
            watchdog = (  # as Jenkins' options: the stage's timeout includes the wait for its input
                asyncio.create_task(self._watchdog(stage.options.timeout_seconds))
                if stage.options.timeout_seconds
                else None
            )
            try:
                if stage.input is not None:
                    inner = replace(inner, env=await stage_input_env(self, stage.input, stage.name, env))
                    entered = True
                    if asked_first:  # its environment may use the answers; then `when`
                        inner = replace(inner, env=await self.apply_environment(stage.environment, inner.env))
                        if not await self.conditions(stage.when, inner):
                            self.log.line(f'Stage "{stage.name}" skipped due to when conditional')
                            entered = False
                            record["skipped"] = "when"
                if entered and stage.steps:
                    await self.run_steps(stage.steps, inner)
                elif entered and stage.parallel:
                    await run_branches(self, stage, inner)  # parallel, and a matrix's cells
                elif entered:
                    await self.run_stages(stage.stages, inner)
            except BuildAborted:
                pass
            except StepFailed as e:
                self.log.line(f"ERROR: {e}")
                self.failed = True
            finally:
                if watchdog:
                    watchdog.cancel()
            status = (
                "ABORTED"
                if self.aborted
                else ("FAILURE" if self.failed and not failed_before else "SUCCESS")
            )
            if status == "SUCCESS":  # unstable(), junit failures, catchError(stageResult: ...)
                status = self.stage_marks.get(stage_path(), status)
            if record.get("skipped") == "when":
                status = "SKIPPED"
            span.status = status.lower()
            if entered:
                await self.run_post(stage.post, inner, f"stage '{stage.name}'", stage_result=status)
        leave_stage(path)
        record.update(status=status, end=time.time())
        self.log.line("[Pipeline] }")

    async def conditions(self, conditions: tuple[Condition, ...], ctx: Ctx) -> bool:
        for c in conditions:
            if not await self.condition(c, ctx):
                return False
        return True

    async def condition(self, c: Condition, ctx: Ctx) -> bool:
        env = ctx.env
        if c.kind == "branch":
            return branch_glob(c.pattern, env.get("BRANCH_NAME", ""))
        if c.kind == "environment":
            return env.get(c.name) == c.value
        if c.kind == "expression":
            return truth(await evaluate(c.code, ctx, self))
        if c.kind == "not":
            return not await self.condition(c.children[0], ctx)
        if c.kind == "allOf":
            return await self.conditions(c.children, ctx)
        for x in c.children:
            if await self.condition(x, ctx):
                return True
        return False

    async def run_post(self, post: Post, ctx: Ctx, where: str, stage_result: str | None = None) -> None:
        if not post.blocks:
            return
        saved_abort = self.abort_reason
        self.aborted_before_post |= saved_abort is not None  # currentBuild in post still says so
        scope = scope_of(self)
        saved_stop, scope.stopped = scope.stopped, None  # a failFast-stopped branch's post runs too
        previous = await self.previous_result() if HISTORY_CONDITIONS & set(post.blocks) else None
        for name in POST_CONDITIONS:
            # each condition against the result as it is now (an earlier post block may have failed)
            if name in post.blocks and name in post_conditions(self._post_result(stage_result), previous):
                self.log.line(f"Post stage ({where}: {name})")
                with self.trace.span("post", f"{where} {name}"):
                    # post blocks run even after an abort, so let their steps start
                    self.abort_reason = None
                    try:
                        await self.run_steps(post.blocks[name], ctx)
                    except StepFailed as e:
                        self.log.line(f"ERROR: {e}")
                        self.failed = True
                    finally:
                        self.abort_reason = saved_abort
        scope.stopped = saved_stop

    async def previous_result(self) -> str | None:
        """The job's previous completed build's result (read once, when a post block needs it)."""
        if self._previous is None:
            lookup = self.previous_lookup
            self._previous = (await asyncio.to_thread(lookup),) if lookup else (None,)
        return self._previous[0]

    def _post_result(self, stage_result: str | None) -> str:
        """The result post conditions are judged by: the stage's, or the build's as it is now."""
        if stage_result is None or self.abort_reason is not None:
            return self.result()
        return stage_result

    # -- steps ------------------------------------------------------------------
    async def run_steps(self, steps: tuple[Step, ...], ctx: Ctx) -> None:
        for step in steps:
            await self.run_step(step, ctx)

    async def run_step(self, step: Step, ctx: Ctx) -> Any:
        if self.aborted:
            raise BuildAborted()
        pull = getattr(self.executor, "pull_workspace", None) if step.name in FILE_STEPS else None
        if pull is None:
            return await step_for(step).run(ctx, self)
        await pull()  # the workspace lives in the agent (a pod): Dockyard's copy catches up
        result = await step_for(step).run(ctx, self)
        if step.name in WRITES_WORKSPACE:
            await self.executor.push_workspace()  # type: ignore[attr-defined]
        return result


def _refuse_forbidden(names: Iterable[str]) -> None:
    """Defense in depth behind the API: a build never starts with a parameter named like a
    variable the shell or loader interprets, however it was queued."""
    for name in sorted(names):
        why = forbidden_env_name(name)
        if why:
            raise StepFailed(why)


def _param_value(value: Any) -> str:
    """A parameter as an environment value: booleans as Groovy prints them."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _missing(e: KeyError, credential_id: str) -> str:
    """The store's own message (not found / not available to this job), or a plain lookup's."""
    return str(e) if type(e) is not KeyError else f"no credential with id {credential_id!r}"


def credential_ids(tree: Any) -> list[str]:
    """Every credential id the pipeline names literally: `credentials('id')` in environments and
    the `credentialsId:` of withCredentials bindings (ids built at run time are not known)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, EnvVar) and node.credential_id:
            found.append(node.credential_id)
        if isinstance(node, Call):
            cid = node.kwargs.get("credentialsId")
            if node.name == "credentials" and node.args:
                cid = node.args[0]
            if isinstance(cid, str) and cid not in found:
                found.append(cid)
        if is_dataclass(node) and not isinstance(node, type):
            for f in fields(node):
                walk(getattr(node, f.name))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(tree)
    return list(dict.fromkeys(found))


def _all_stages(stages: tuple[Stage, ...]) -> list[Stage]:
    out: list[Stage] = []
    for s in stages:
        out.append(s)
        out.extend(_all_stages(s.parallel))
        out.extend(_all_stages(s.stages))
    return out
