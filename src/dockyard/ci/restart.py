"""Restart from stage (declarative's feature): a completed build runs again from one of its
top-level stages, with the same script, commit and parameters, earlier stages skipped for the
restart, and the original build's stashes copied in (those it still has: `preserveStashes`).

Every build keeps the pipeline text it ran (DATA/ci/<job>/<n>/pipeline.json), so a restart runs
exactly that script (a replayed one, an inline script changed since) and not the repository's
file of today. The restarted build is queued with a cause naming the origin and the stage
(`user alice (restarted from #3, stage Deploy)`); the runner reads the plan from that cause and
the origin's files when it starts, so nothing is written between queueing and starting.

Rules follow Jenkins' RestartDeclarativePipelineAction: the origin must be complete, the stage
one of its top-level stages that was not skipped for an earlier failure, and the caller allowed
to run the job (the one check every trigger uses); shared by the Jenkins API
(`/job/N/B/restart/...`), the native API and the web UI's button."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.auth import Principal
from dockyard.ci.buildlog import BuildPaths, ConsoleLog, Trace
from dockyard.ci.component import CIOperations
from dockyard.ci.csrf import HTTPError
from dockyard.ci.errors import PipelineError
from dockyard.ci.model import Stage
from dockyard.ci.parsing import parse_pipeline
from dockyard.ci.rebuild import rebuild_params
from dockyard.ci.steps import StepFailed
from dockyard.ci.store import DONE, Build
from dockyard.store import atomic_write_text

__all__ = [
    "RestartPlan",
    "load_script",
    "queue_restart",
    "restart_action_json",
    "restart_cause_json",
    "restart_plan",
    "restartable_stages",
    "save_script",
    "save_stage_results",
    "skip_for_restart",
]

SCRIPT_FILE = "pipeline.json"  # the pipeline text a build ran, and its file name
STAGES_FILE = "stages.json"  # every stage's outcome, and why a skipped one was skipped
_CAUSE = re.compile(r"^user (\S+) \(restarted from #(\d+), stage (.+)\)$", re.S)
RESTART_CAUSE_CLASS = "org.jenkinsci.plugins.pipeline.modeldefinition.causes.RestartDeclarativePipelineCause"
ACTION_CLASS = "org.jenkinsci.plugins.pipeline.modeldefinition.actions.RestartDeclarativePipelineAction"


@dataclass(frozen=True)
class RestartPlan:
    origin: int
    stage: str
    script: str
    filename: str
    stashes: int = 0  # how many of the origin's stashes were copied in

    @property
    def console(self) -> str:
        """What the console says first, as Jenkins does, and where the stashes come from."""
        head = f"Restarted from build #{self.origin}, stage {self.stage}"
        if self.stashes:
            return f"{head}\n[dockyard] {self.stashes} stash(es) of #{self.origin} copied in"
        return (f"{head}\n[dockyard] #{self.origin} kept no stashes (options {{ preserveStashes() }} keeps"
                " those of the most recent completed build for restarts)")


# -- what every build keeps ---------------------------------------------------------------------
def save_script(paths: BuildPaths, text: str, filename: str) -> None:
    atomic_write_text(paths.root / SCRIPT_FILE, json.dumps({"filename": filename, "text": text}))


def load_script(paths: BuildPaths) -> tuple[str, str] | None:
    """(text, filename) of the pipeline the build ran; None when it never read one."""
    try:
        data = json.loads((paths.root / SCRIPT_FILE).read_text())
        return str(data["text"]), str(data["filename"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_stage_results(paths: BuildPaths, results: list[dict[str, Any]]) -> None:
    atomic_write_text(paths.root / STAGES_FILE, json.dumps(results))


def _stage_results(paths: BuildPaths) -> list[dict[str, Any]]:
    try:
        data = json.loads((paths.root / STAGES_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []


# -- which stages ---------------------------------------------------------------------------------
def restartable_stages(paths: BuildPaths) -> list[str] | None:
    """The build's top-level stages a restart may start at (Jenkins: those not skipped for an
    earlier failure); None when the build never ran a pipeline (it failed before reading one)."""
    script = load_script(paths)
    if script is None:
        return None
    try:
        pipeline = parse_pipeline(*script)
    except PipelineError:
        return None
    if pipeline.options.disable_restart:
        return []
    skipped = {r.get("name") for r in _stage_results(paths) if r.get("skipped") == "failure"}
    return [s.name for s in pipeline.stages if s.name not in skipped]


def _all_names(stages: tuple[Stage, ...]) -> set[str]:
    out: set[str] = set()
    for s in stages:
        out.add(s.name)
        out |= _all_names(s.stages) | _all_names(s.parallel)
    return out


# -- queueing -------------------------------------------------------------------------------------
async def queue_restart(ci: CIOperations, principal: Principal, build: Build, stage: str) -> Build:
    """Queues `build` again from its top-level stage `stage`; HTTPError 400 (no or unknown stage),
    409 (the build is not complete, or ran no pipeline), 403/404 from the run check."""
    job = await asyncio.to_thread(ci.runnable_job, principal, build.job_name)
    stage = (stage or "").strip()
    if not stage:
        raise HTTPError(400, "Stage name cannot be null or an empty string: send stageName=<a top-level"
                             " stage>")
    if len(stage) > 200:
        raise HTTPError(400, "Stage name is longer than 200 characters: no stage has such a name")
    what = f"{build.job_name} #{build.number}"
    if build.state != DONE:
        raise HTTPError(409, f"The origin build {what} is not complete, so cannot be restarted:"
                             " wait for it to finish or stop it first")
    paths = ci.scheduler.paths(build.job_name, build.number)
    stages = await asyncio.to_thread(restartable_stages, paths)
    if stages is None:
        raise HTTPError(409, f"The origin build {what} did not execute its Pipeline, so cannot be restarted")
    if stage not in stages:
        script = await asyncio.to_thread(load_script, paths)
        origin = await asyncio.to_thread(parse_pipeline, *script) if script is not None else None
        if origin is not None and origin.options.disable_restart:
            raise HTTPError(409, f"{what} cannot be restarted from a stage: its pipeline has"
                                 " options { disableRestartFromStage() }")
        top = origin.stages if origin is not None else ()
        if stage in {s.name for s in top}:
            why = "it was skipped for an earlier failure"
        elif stage in _all_names(top):
            why = "it is a nested or parallel stage: restart from the top-level stage around it"
        else:
            why = "no stage has that name"
        known = ", ".join(stages) or "none"
        raise HTTPError(400, f"Stage {stage} is not present in the top-level stages for {what},"
                             f" so cannot be restarted ({why}; restartable stages: {known})")
    params = rebuild_params(build)  # password values take their defaults again, as for rebuild
    secrets = {p.name: p.default for p in job.config.parameters
               if p.kind == "password" and p.name not in params}
    cause = f"user {principal.username} (restarted from #{build.number}, stage {stage})"

    def enqueue() -> Build:
        if job.disabled:
            raise HTTPError(409, f"Job {job.name} is not buildable (it is disabled)")
        return ci.scheduler.enqueue(
            job, cause=cause, params={**params, **secrets}, secret_names=frozenset(secrets),
            commit=build.git_commit, branch=build.git_branch, clone_from=build.clone_from,
            source_repo=build.source_repo,
        )

    return await asyncio.to_thread(enqueue)


def restart_action_json(build: Build, stages: list[str] | None, allowed: bool) -> dict[str, Any]:
    """`/job/N/B/restart/api/json` as Jenkins renders the action."""
    enabled = allowed and build.state == DONE and bool(stages)
    return {"_class": ACTION_CLASS, "restartEnabled": enabled, "restartableStages": stages or []}


def restart_cause_json(build: Build) -> dict[str, Any] | None:
    """Jenkins' second cause of a restarted build ("Restarted from build #3, stage Deploy")."""
    m = _CAUSE.match(build.cause)
    if m is None:
        return None
    return {
        "_class": RESTART_CAUSE_CLASS,
        "shortDescription": f"Restarted from build #{m.group(2)}, stage {m.group(3)}",
    }


# -- running --------------------------------------------------------------------------------------
def restart_plan(paths: BuildPaths, build: Build) -> RestartPlan | None:
    """The plan of a restarted build (None for any other): the origin's script, and the origin's
    stashes copied into this build (hard links: a stash may be large). StepFailed when the origin
    and its script are gone (discarded since)."""
    m = _CAUSE.match(build.cause)
    if m is None:
        return None
    origin, stage = int(m.group(2)), m.group(3)
    origin_paths = BuildPaths(paths.root.parent / str(origin))
    script = load_script(origin_paths)
    if script is None:
        raise StepFailed(f"cannot restart: build #{origin} and the pipeline it ran are gone (discarded)")
    copied = _copy_tree(origin_paths.root / "stashes", paths.root / "stashes")
    return RestartPlan(origin, stage, script[0], script[1], copied)


def _copy_tree(source: Path, target: Path) -> int:
    """The files of `source` hard-linked (or copied) into `target`; how many."""
    if not source.is_dir():
        return 0

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link, dirs_exist_ok=True)
    return sum(1 for p in target.rglob("*") if p.is_file())


def skip_for_restart(
    plan: RestartPlan, stages: tuple[Stage, ...], log: ConsoleLog, trace: Trace, results: list[dict[str, Any]]
) -> tuple[Stage, ...]:
    """The top-level stages from the plan's stage on; the earlier ones are logged as Jenkins logs
    them and recorded as not executed (the trace, wfapi and the build page show them so)."""
    names = [s.name for s in stages]
    if plan.stage not in names:
        raise StepFailed(f"cannot restart: the pipeline of #{plan.origin} has no top-level stage"
                         f" {plan.stage!r}")
    start = names.index(plan.stage)
    for s in stages[:start]:
        log.line(f'Stage "{s.name}" skipped due to this build restarting at stage "{plan.stage}"')
        now = time.time()
        trace.mark("stage", s.name, now, now, status="not_executed", skipped="restart")
        results.append({"name": s.name, "status": "SKIPPED", "skipped": "restart", "start": now, "end": now})
    return stages[start:]
