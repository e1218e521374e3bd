"""Replay: run a build again with an edited Jenkinsfile (Jenkins' Replay), allowed to Dockyard
administrators and the job's owners only (who created it, or owns its repository), since the
edited script runs with the job's credentials.

The script is kept at DATA/ci/<job>/replays/<queue id>.groovy, written as the build is queued; the
runner reads it instead of the repository's file. A build queued as a replay whose script is
missing fails with that reason rather than silently running the repository's file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dockyard.auth import Principal
from dockyard.ci.buildlog import BuildPaths
from dockyard.ci.component import CIOperations
from dockyard.ci.csrf import HTTPError
from dockyard.ci.errors import PipelineError
from dockyard.ci.parsing import parse_pipeline_off_loop
from dockyard.ci.rebuild import rebuild_params
from dockyard.ci.scm import local_owner
from dockyard.ci.store import Build, Job

__all__ = ["REPLAY_CAUSE", "may_replay", "queue_replay", "replay_file", "replay_script"]

REPLAY_CAUSE = "(replay of #"


def replay_file(paths: BuildPaths, queue_id: int) -> Path:
    """Where the replayed script of the build with `queue_id` lives (next to the job's builds)."""
    return paths.root.parent / "replays" / f"{queue_id}.groovy"


def may_replay(principal: Principal, job: Job, base_url: str) -> bool:
    if principal.is_anonymous:
        return False
    owners = {job.created_by, local_owner(job.scm_url, base_url)}
    return principal.is_admin or principal.username in owners


def replay_script(paths: BuildPaths, build: Build) -> str | None:
    """The edited script when `build` is a replay; None for any other build."""
    if REPLAY_CAUSE not in build.cause:
        return None
    path = replay_file(paths, build.id)
    if not path.is_file():
        raise FileNotFoundError(f"the replayed script of this build is gone ({path.name})")
    script = path.read_text()
    path.unlink()  # read once, when the build starts: replays leave nothing behind
    return script


async def queue_replay(ci: CIOperations, principal: Principal, build: Build, script: str) -> Build:
    """Queues `build` again with `script` instead of its pipeline file, for the Jenkins API's
    `POST /job/N/B/replay` and the build page's Replay form; HTTPError 403 (not an administrator or
    an owner), 400 (no script, or one that does not parse, with line:column)."""
    job = await asyncio.to_thread(ci.runnable_job, principal, build.job_name)
    if not may_replay(principal, job, ci.base_url()):
        raise HTTPError(403, f"{principal.username} may not replay builds of job {job.name!r}:"
                        " that needs an administrator or the job's owner")
    if not script.strip():
        raise HTTPError(400, "no script: send the edited Jenkinsfile as mainScript= or a text/plain body")
    try:
        await parse_pipeline_off_loop(script, "Jenkinsfile")
    except PipelineError as e:
        raise HTTPError(400, f"the replayed script does not parse: {e}") from None
    paths = ci.scheduler.paths(job.name, build.number)
    cause = f"user {principal.username} {REPLAY_CAUSE}{build.number})"

    def queue() -> Build:
        new = ci.trigger(job, rebuild_params(build), cause)
        target = replay_file(paths, new.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(script)
        return new

    return await asyncio.to_thread(queue)
