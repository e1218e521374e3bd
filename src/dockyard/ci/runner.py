"""Runs one build: checkout, read the pipeline, set up the agent, stages and steps, post blocks.

Failure semantics follow Jenkins: a failing step fails its stage and the build, later stages are
skipped, `post` blocks run by result (always, then aborted/failure/success/unstable, then
cleanup). Stop and timeouts go through `abort(reason)`, which kills the running processes.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import glob
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dockyard.ci.buildertrace import BuilderOutputTracer
from dockyard.ci.buildlog import ConsoleLog, Trace
from dockyard.ci.errors import PipelineError, check_size
from dockyard.ci.executor.base import AgentSpec, Executor, ExecutorError, StepSpec, with_agent_umask
from dockyard.ci.model import Call, Condition, EnvVar, GString, Interp, Pipeline, Post, Stage, Step
from dockyard.ci.parsing import parse_pipeline_off_loop
from dockyard.ci.podtemplate import CredentialLookup, parse_pod_template
from dockyard.ci.scm import branch_glob, local_owner, strip_credentials
from dockyard.ci.store import ABORTED, FAILURE, SUCCESS, UNSTABLE, Build, Job
from dockyard.credentials import job_credentials

YAML_PIPELINES = (".dockyard.yml", ".dockyard.yaml")
# Tools run by a step (the builder behind /kaniko/executor) may append JSON lines here, one span
# each: {"kind": "push", "name": "...", "start": epoch, "end": epoch, "status": "ok", ...}.
TRACE_EVENTS = "trace-events.jsonl"
AGENT_ENV = ("PATH", "HOME", "LANG", "USER", "LOGNAME", "TMPDIR", "TZ")


class StepFailed(Exception):
    """A step failed; the message is what Jenkins prints after ERROR:."""


class BuildAborted(Exception):
    pass


@dataclass
class Ctx:
    """Where a step runs: the environment, directory and container in effect."""

    env: dict[str, str]
    cwd: Path
    container: str | None = None
    shell: str | None = None
    stage: str = ""


@dataclass
class BuildPaths:
    root: Path

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def trace(self) -> Path:
        return self.root / "trace.json"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def archive(self) -> Path:
        return self.root / "archive"


@dataclass
class RunResult:
    result: str
    reason: str = ""
    pipeline: Pipeline | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)


class BuildRunner:
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
    ) -> None:
        self.job, self.build, self.paths = job, build, paths
        self.log, self.trace, self.executor = log, trace, executor
        owner = build.source_repo.partition("/")[0] or local_owner(job.scm_url, base_url)
        self.credentials = job_credentials(credentials, job.name, repo_owner=owner,
                                           job_created_by=job.created_by)
        self.base_url = base_url
        self.on_commit = on_commit
        self.abort_reason: str | None = None
        self.failed = False
        self.unstable = False
        self.stage_results: list[dict[str, Any]] = []
        self._handles: list[Any] = []
        self.pipeline: Pipeline | None = None

    # -- control ----------------------------------------------------------------
    async def abort(self, reason: str) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
            self.log.line(f"[dockyard] {reason}")
        for h in list(self._handles):
            await self.executor.kill(h)

    # -- the build --------------------------------------------------------------
    async def run(self) -> RunResult:
        b = self.build
        started = b.started_at or time.time()
        self.trace.mark("phase", "queued", b.queued_at, started)
        self.log.line(f"Started by {b.cause or 'user'}")
        self.log.line(f"Running on Dockyard in {self.paths.workspace}")
        try:
            commit, branch = await self.checkout()
            env = self.base_env(commit, branch)
            pipeline = await self.load_pipeline()
            self.pipeline = pipeline
            env = self.pipeline_env(pipeline, env)
            await self.setup_agent(pipeline)
            ctx = Ctx(env, self.paths.workspace)
            timeout = pipeline.options.timeout_seconds
            watchdog = asyncio.create_task(self._watchdog(timeout)) if timeout else None
            try:
                await self.run_stages(pipeline.stages, ctx)
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
        result = self.result()
        self.log.line(f"Finished: {result}")
        return RunResult(result, self.abort_reason or "", self.pipeline, self.stage_results)

    def result(self) -> str:
        if self.abort_reason is not None:
            return ABORTED
        if self.failed:
            return FAILURE
        return UNSTABLE if self.unstable else SUCCESS

    async def _watchdog(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.abort(f"Timeout has been exceeded ({seconds:g} s, options timeout)")

    # -- checkout ---------------------------------------------------------------
    async def checkout(self) -> tuple[str, str]:
        ws = self.paths.workspace
        b, job = self.build, self.job
        if job.config.inline_script and not job.scm_url:
            ws.mkdir(parents=True, exist_ok=True)
            return "", ""
        source = b.clone_from or job.scm_url
        clean, user, password = strip_credentials(source)
        branch = b.git_branch or _branch_from_spec(job.branch_spec)
        with self.trace.span("phase", "checkout", repo=clean) as span:
            self.log.line(f"[dockyard] git clone {clean} ({branch or 'default branch'})")
            if ws.exists():
                shutil.rmtree(ws)
            config: list[str] = []
            if user or password:
                token = base64.b64encode(f"{user}:{password}".encode()).decode()
                config = ["-c", f"http.extraHeader=Authorization: Basic {token}"]
                self.log.masker.add([password, token])
            elif job.credentials_id and "://" in clean and not b.clone_from:
                config = self._credential_header(job.credentials_id)
            args = ["clone", "-q", "--no-checkout"]
            if branch and not b.git_commit:
                args += ["--branch", branch]
            await self.git(*config, *args, clean, str(ws), cwd=ws.parent)
            if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", b.git_commit):
                commit = b.git_commit  # `checkout` below fails if the clone does not have it
            else:
                target = b.git_commit or "HEAD"
                commit = (await self.git("rev-parse", "--verify", f"{target}^{{commit}}", cwd=ws)).strip()
            if not branch:
                branch = (await self.git("rev-parse", "--abbrev-ref", "HEAD", cwd=ws)).strip()
            await self.git("checkout", "-q", "-B", branch, commit, cwd=ws)
            span.detail["commit"] = commit[:12]
        self.log.line(f"[dockyard] checked out {commit} ({branch})")
        if self.on_commit:
            self.on_commit(commit, branch)
        return commit, branch

    def _credential_header(self, credential_id: str) -> list[str]:
        if self.credentials is None:
            raise StepFailed(f"job credentialsId {credential_id!r}: no credential store is configured")
        try:
            data = self.credentials.get(credential_id).data()
        except KeyError as e:  # not found, or not available to this job: the message says which
            raise StepFailed(f"job credentialsId: {_missing(e, credential_id)}") from None
        if "username" not in data or "password" not in data:
            raise StepFailed(f"credential {credential_id!r} must be a username/password for git")
        token = base64.b64encode(data["username"] + b":" + data["password"]).decode()
        self.log.masker.add([data["password"].decode(errors="replace"), token])
        return ["-c", f"http.extraHeader=Authorization: Basic {token}"]

    async def git(self, *args: str, cwd: Path) -> str:
        cwd.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"}
        proc = await asyncio.create_subprocess_exec(
            *with_agent_umask(["git", *args]),
            cwd=str(cwd),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            shown = [a for a in args if not a.startswith("http.extraHeader")]
            raise StepFailed(
                f"git {' '.join(shown[:3])} failed: {self.log.masker.mask_text(err.decode().strip())}"
            )
        return out.decode()

    # -- pipeline ---------------------------------------------------------------
    async def load_pipeline(self) -> Pipeline:
        inline = self.job.config.inline_script
        if inline:
            return await parse_pipeline_off_loop(inline, "Jenkinsfile")
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
        source = path.read_text(errors="replace")
        return await parse_pipeline_off_loop(source, script_path)

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
            env[name] = str(value).lower() if isinstance(value, bool) else str(value)
        return env

    def pipeline_env(self, pipeline: Pipeline, env: dict[str, str]) -> dict[str, str]:
        for p in pipeline.parameters:
            if p.name not in env:
                env[p.name] = str(p.default).lower() if isinstance(p.default, bool) else str(p.default)
        return self.apply_environment(pipeline.environment, env)

    def apply_environment(self, entries: tuple[EnvVar, ...], env: dict[str, str]) -> dict[str, str]:
        env = dict(env)
        for e in entries:
            if e.credential_id:
                env.update(self.credential_env(e.name, e.credential_id))
            else:
                env[e.name] = self.interpolate(e.value, env)
        return env

    def credential_env(self, name: str, credential_id: str) -> dict[str, str]:
        """Jenkins' credentials() binding: user:pass plus _USR/_PSW, secret text, or a file path."""
        if self.credentials is None:
            raise StepFailed(f"credentials('{credential_id}'): no credential store is configured")
        try:
            cred = self.credentials.get(credential_id)
        except KeyError as e:  # not found, or not available to this job: the message says which
            raise StepFailed(f"credentials('{credential_id}'): {_missing(e, credential_id)}") from None
        self.log.masker.add(cred.mask_values())
        data = cred.data()
        if set(data) == {"username", "password"}:
            user, pw = data["username"].decode(), data["password"].decode()
            return {name: f"{user}:{pw}", f"{name}_USR": user, f"{name}_PSW": pw}
        if set(data) == {"text"}:
            return {name: data["text"].decode()}
        secrets_dir = self.paths.root / "secrets"
        secrets_dir.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=secrets_dir, prefix=f"{credential_id}-")
        with os.fdopen(fd, "wb") as f:
            f.write(next(iter(data.values())))
        return {name: tmp}

    def interpolate(self, value: str | GString, env: dict[str, str]) -> str:
        if isinstance(value, str):
            return value
        out = []
        for part in value.parts:
            if isinstance(part, Interp):
                out.append(self.resolve(part, env))
            else:
                out.append(part)
        return "".join(out)

    def resolve(self, part: Interp, env: dict[str, str]) -> str:
        expr = part.expr
        head, _, rest = expr.partition(".")
        if head in ("env", "params") and rest and "." not in rest:
            expr = rest
        elif "." in expr:
            raise StepFailed(
                f"{part.pos}: ${{{part.expr}}} is not supported (use a name, env.NAME or params.NAME)"
            )
        if expr in env:
            return env[expr]
        if expr in AGENT_ENV and expr in os.environ:
            return os.environ[expr]  # the agent's own PATH, HOME... as Jenkins' env.PATH
        raise StepFailed(f"{part.pos}: no such property: {part.expr} (not in the environment or parameters)")

    # -- agent ------------------------------------------------------------------
    async def setup_agent(self, pipeline: Pipeline) -> None:
        with self.trace.span("phase", "agent ready", executor=self.executor.name):
            containers: dict[str, Any] = {}
            agent = pipeline.agent
            if agent.kind == "kubernetes":
                containers, masks = parse_pod_template(agent.pod_yaml, self.credentials)
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
            await self.executor.setup(
                AgentSpec(self.paths.workspace, self.paths.root, containers, [own] if own else []), self.log
            )
            self.default_container = agent.default_container or None

    # -- stages -----------------------------------------------------------------
    async def run_stages(self, stages: tuple[Stage, ...], ctx: Ctx) -> None:
        for stage in stages:
            await self.run_stage(stage, ctx)

    async def run_stage(self, stage: Stage, ctx: Ctx) -> None:
        record: dict[str, Any] = {"name": stage.name, "status": "SKIPPED", "start": time.time(), "end": None}
        self.stage_results.append(record)
        if self.failed or self.abort_reason is not None:
            why = "earlier failure(s)" if self.failed else "abort"
            self.log.line(f'Stage "{stage.name}" skipped due to {why}')
            record["end"] = time.time()
            return
        env = self.apply_environment(stage.environment, ctx.env)
        if stage.when and not all(self.condition(c, env) for c in stage.when):
            self.log.line(f'Stage "{stage.name}" skipped due to when conditional')
            record["end"] = time.time()
            return
        self.log.line(f"[Pipeline] {{ ({stage.name})")
        inner = replace(
            ctx,
            env=env,
            stage=stage.name,
            container=ctx.container or getattr(self, "default_container", None),
        )
        failed_before = self.failed
        with self.trace.span("stage", stage.name) as span:
            watchdog = (
                asyncio.create_task(self._watchdog(stage.options.timeout_seconds))
                if stage.options.timeout_seconds
                else None
            )
            try:
                if stage.steps:
                    await self.run_steps(stage.steps, inner)
                elif stage.parallel:
                    await asyncio.gather(*(self.run_stage(s, inner) for s in stage.parallel))
                else:
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
                if self.abort_reason
                else ("FAILURE" if self.failed and not failed_before else "SUCCESS")
            )
            span.status = status.lower()
            await self.run_post(stage.post, inner, f"stage '{stage.name}'", stage_failed=status == "FAILURE")
        record.update(status=status, end=time.time())
        self.log.line("[Pipeline] }")

    def condition(self, c: Condition, env: dict[str, str]) -> bool:
        if c.kind == "branch":
            return branch_glob(c.pattern, env.get("BRANCH_NAME", ""))
        if c.kind == "environment":
            return env.get(c.name) == c.value
        if c.kind == "not":
            return not self.condition(c.children[0], env)
        if c.kind == "allOf":
            return all(self.condition(x, env) for x in c.children)
        return any(self.condition(x, env) for x in c.children)

    async def run_post(self, post: Post, ctx: Ctx, where: str, stage_failed: bool | None = None) -> None:
        if not post.blocks:
            return
        failed = self.failed if stage_failed is None else stage_failed
        aborted = self.abort_reason is not None
        wanted = {"always", "cleanup"}
        if aborted:
            wanted |= {"aborted", "unsuccessful"}
        elif failed:
            wanted |= {"failure", "unsuccessful"}
        elif self.unstable:
            wanted |= {"unstable", "unsuccessful"}
        else:
            wanted.add("success")
        saved_abort = self.abort_reason
        for name in ("always", "aborted", "failure", "success", "unstable", "unsuccessful", "cleanup"):
            if name in post.blocks and name in wanted:
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

    # -- steps ------------------------------------------------------------------
    async def run_steps(self, steps: tuple[Step, ...], ctx: Ctx) -> None:
        for step in steps:
            if self.abort_reason is not None:
                raise BuildAborted()
            await self.run_step(step, ctx)

    async def run_step(self, step: Step, ctx: Ctx) -> None:
        handler = getattr(self, f"step_{step.name}")
        await handler(step, ctx)

    async def step_sh(self, step: Step, ctx: Ctx) -> None:
        script = self.interpolate(step.args["script"], ctx.env)
        label = self.interpolate(step.args.get("label", ""), ctx.env) or _first_line(script)
        self.log.line(f"[Pipeline] sh{' (' + label + ')' if step.args.get('label') else ''}")
        with self.trace.span("step", f"sh {label}"[:80], stage=ctx.stage) as span:
            ctx.cwd.mkdir(parents=True, exist_ok=True)
            events = self.paths.root / TRACE_EVENTS
            env = {**ctx.env, "DOCKYARD_TRACE_EVENTS": str(events)}
            handle = await self.executor.start_step(StepSpec(script, env, ctx.cwd, ctx.container, ctx.shell))
            self._handles.append(handle)
            tracer = BuilderOutputTracer()
            try:
                async for chunk in self.executor.tail(handle):
                    self.log.write(chunk)
                    tracer.feed(chunk, time.time())
                code = await self.executor.wait(handle)
            finally:
                self._handles.remove(handle)
                for s in tracer.finish(time.time()):
                    self.trace.mark(s.kind, s.name, s.start, s.end, **s.detail)
                self.trace.merge_events(events)
            if self.abort_reason is not None:
                span.status = "aborted"
                raise BuildAborted()
            if code != 0:
                span.status = "failed"
                raise StepFailed(f"script returned exit code {code}")

    async def step_echo(self, step: Step, ctx: Ctx) -> None:
        self.log.line(f"[Pipeline] echo\n{self.interpolate(step.args['message'], ctx.env)}")

    async def step_error(self, step: Step, ctx: Ctx) -> None:
        raise StepFailed(self.interpolate(step.args["message"], ctx.env))

    async def step_checkout(self, step: Step, ctx: Ctx) -> None:
        self.log.line(
            f"[Pipeline] checkout (workspace already at {ctx.env.get('GIT_COMMIT', 'the job commit')})"
        )

    async def step_container(self, step: Step, ctx: Ctx) -> None:
        name = step.args["name"]
        self.log.line(f"[Pipeline] container ({name})")
        assert step.body is not None
        await self.run_steps(step.body, replace(ctx, container=name, shell=step.args.get("shell")))

    async def step_dir(self, step: Step, ctx: Ctx) -> None:
        rel = self.interpolate(step.args["path"], ctx.env)
        target = (ctx.cwd / rel).resolve()
        if not target.is_relative_to(self.paths.workspace.resolve()):
            raise StepFailed(f"{step.pos}: dir('{rel}') leaves the workspace")
        target.mkdir(parents=True, exist_ok=True)
        self.log.line(f"[Pipeline] dir ({target})")
        assert step.body is not None
        await self.run_steps(step.body, replace(ctx, cwd=target, env={**ctx.env, "PWD": str(target)}))

    async def step_withEnv(self, step: Step, ctx: Ctx) -> None:  # noqa: N802 - Jenkins' step name
        env = dict(ctx.env)
        for item in step.args["vars"]:
            text = self.interpolate(item, env)
            name, sep, value = text.partition("=")
            if not sep:
                raise StepFailed(f"{step.pos}: withEnv entries are NAME=value, got {text!r}")
            env[name] = value
        assert step.body is not None
        await self.run_steps(step.body, replace(ctx, env=env))

    async def step_withCredentials(self, step: Step, ctx: Ctx) -> None:  # noqa: N802
        env = dict(ctx.env)
        for binding in step.args["bindings"]:
            assert isinstance(binding, Call)
            cid = binding.kwargs["credentialsId"]
            if binding.name == "usernamePassword":
                values = self.credential_env("_DY", cid)
                if "_DY_USR" not in values:
                    raise StepFailed(f"credential {cid!r} is not a username/password")
                env[binding.kwargs["usernameVariable"]] = values["_DY_USR"]
                env[binding.kwargs["passwordVariable"]] = values["_DY_PSW"]
            elif binding.name == "usernameColonPassword":
                env[binding.kwargs["variable"]] = self.credential_env("_DY", cid)["_DY"]
            else:
                env[binding.kwargs["variable"]] = self.credential_env("_DY", cid)["_DY"]
        assert step.body is not None
        await self.run_steps(step.body, replace(ctx, env=env))

    async def step_archiveArtifacts(self, step: Step, ctx: Ctx) -> None:  # noqa: N802
        ws = self.paths.workspace
        patterns = [
            p.strip() for p in self.interpolate(step.args["artifacts"], ctx.env).split(",") if p.strip()
        ]
        excludes = [
            p.strip() for p in self.interpolate(step.args.get("excludes", ""), ctx.env).split(",") if p
        ]
        found: list[Path] = []
        for pattern in patterns:
            for match in glob.glob(pattern, root_dir=ws, recursive=True):
                p = ws / match
                inside = p.resolve().is_relative_to(ws.resolve())  # no symlink out of it
                if inside and p.is_file() and not any(fnmatch.fnmatch(match, e) for e in excludes):
                    found.append(p)
        if not found and not step.args.get("allowEmptyArchive", False):
            raise StepFailed(f'No artifacts found that match the file pattern "{", ".join(patterns)}"')
        for p in found:
            target = self.paths.archive / p.relative_to(ws)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, target)  # the server's private mode, not the workspace's
        self.log.line(f"[Pipeline] archiveArtifacts\nArchiving {len(found)} artifact(s)")

    async def step_sleep(self, step: Step, ctx: Ctx) -> None:
        unit = {"SECONDS": 1.0, "MINUTES": 60.0, "HOURS": 3600.0, "MILLISECONDS": 0.001}.get(
            step.args.get("unit", "SECONDS"), 1.0
        )
        await asyncio.sleep(float(step.args["time"]) * unit)

    async def step_retry(self, step: Step, ctx: Ctx) -> None:
        count = int(step.args["count"])
        assert step.body is not None
        for attempt in range(1, count + 1):
            try:
                await self.run_steps(step.body, ctx)
                return
            except StepFailed as e:
                if attempt == count:
                    raise
                self.log.line(f"ERROR: {e}\nRetrying ({attempt}/{count})")

    async def step_timeout(self, step: Step, ctx: Ctx) -> None:
        seconds = float(step.args["seconds"])
        assert step.body is not None
        task = asyncio.create_task(self.run_steps(step.body, ctx))
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if not done:
            for h in list(self._handles):
                await self.executor.kill(h)
            task.cancel()
            raise StepFailed(f"Timeout has been exceeded ({seconds:g} s)")
        task.result()

    async def step_gitopsSetImage(self, step: Step, ctx: Ctx) -> None:  # noqa: N802 - Jenkins-style name
        from dockyard.gitops import GitOpsError, run_gitops_step

        params: dict[str, Any] = {}
        for key, value in step.args.items():
            if isinstance(value, list):
                params[key] = [self.interpolate(v, ctx.env) for v in value]
            elif isinstance(value, dict):
                params[key] = {k: self.interpolate(v, ctx.env) for k, v in value.items()}
            elif isinstance(value, str | GString):
                params[key] = self.interpolate(value, ctx.env)
            else:
                params[key] = value
        self.log.line(f"[Pipeline] gitopsSetImage ({params['repo']})")
        with self.trace.span("gitops", strip_credentials(params["repo"])[0]) as span:
            workdir = self.paths.root / "gitops"
            workdir.mkdir(exist_ok=True)
            try:
                result = await asyncio.to_thread(
                    run_gitops_step,
                    params,
                    env=ctx.env,
                    log=self.log.line,
                    credentials=self.credentials,
                    workdir=workdir,
                )
            except GitOpsError as e:
                span.status = "failed"
                raise StepFailed(str(e)) from None
            span.detail["commit"] = (result.commit or "unchanged")[:12]


def _missing(e: KeyError, credential_id: str) -> str:
    """The store's own message (not found / not available to this job), or a plain lookup's."""
    return str(e) if type(e) is not KeyError else f"no credential with id {credential_id!r}"


def _branch_from_spec(spec: str) -> str:
    for prefix in ("refs/heads/", "*/", "origin/"):
        if spec.startswith(prefix):
            spec = spec[len(prefix) :]
    return "" if any(ch in spec for ch in "*?[") else spec


def _first_line(script: str) -> str:
    for line in script.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _all_stages(stages: tuple[Stage, ...]) -> list[Stage]:
    out: list[Stage] = []
    for s in stages:
        out.append(s)
        out.extend(_all_stages(s.parallel))
        out.extend(_all_stages(s.stages))
    return out
