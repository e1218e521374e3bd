"""The job's checkout: a fresh clone of the job's repository (or of the pushed git directory) in
the build's workspace, at the build's commit, on a local branch named like the pushed one.

Clone credentials go in as an `http.extraHeader` (never in the URL, never in the console: the
header and the password join the build's masker); git never prompts.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
from pathlib import Path

from dockyard.ci.buildlog import ConsoleLog, SecretMasker, Trace
from dockyard.ci.executor.interface import with_agent_umask
from dockyard.ci.scm import strip_credentials
from dockyard.ci.steps import BuildCredentials, StepFailed
from dockyard.ci.store import Build, Job


async def checkout_workspace(
    job: Job, build: Build, ws: Path, log: ConsoleLog, trace: Trace, credentials: BuildCredentials
) -> tuple[str, str]:
    """(commit, branch) checked out in `ws`; ("", "") for an inline script without a repository."""
    if job.config.inline_script and not job.scm_url:
        ws.mkdir(parents=True, exist_ok=True)
        return "", ""
    source = build.clone_from or job.scm_url
    clean, user, password = strip_credentials(source)
    branch = build.git_branch or branch_from_spec(job.branch_spec)
    masker = log.masker
    with trace.span("phase", "checkout", repo=clean) as span:
        log.line(f"[dockyard] git clone {clean} ({branch or 'default branch'})")
        if ws.exists():
            shutil.rmtree(ws)
        config: list[str] = []
        if user or password:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            config = ["-c", f"http.extraHeader=Authorization: Basic {token}"]
            masker.add([password, token])
        elif job.credentials_id and "://" in clean and not build.clone_from:
            config = credentials.git_header(job.credentials_id)
        args = ["clone", "-q", "--no-checkout"]
        if branch and not build.git_commit:
            args += ["--branch", branch]
        await git(*config, *args, clean, str(ws), cwd=ws.parent, masker=masker)
        if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", build.git_commit):
            commit = build.git_commit  # `checkout` below fails if the clone does not have it
        else:
            target = build.git_commit or "HEAD"
            commit = (
                await git("rev-parse", "--verify", f"{target}^{{commit}}", cwd=ws, masker=masker)
            ).strip()
        if not branch:
            branch = (await git("rev-parse", "--abbrev-ref", "HEAD", cwd=ws, masker=masker)).strip()
        await git("checkout", "-q", "-B", branch, commit, cwd=ws, masker=masker)
        span.detail["commit"] = commit[:12]
    log.line(f"[dockyard] checked out {commit} ({branch})")
    return commit, branch


async def git(*args: str, cwd: Path, masker: SecretMasker) -> str:
    """git's stdout; StepFailed with its (masked) stderr when it fails."""
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
        raise StepFailed(f"git {' '.join(shown[:3])} failed: {masker.mask_text(err.decode().strip())}")
    return out.decode()


def branch_from_spec(spec: str) -> str:
    """The branch a spec names (`*/main` -> `main`), or "" for a pattern (the default branch)."""
    for prefix in ("refs/heads/", "*/", "origin/"):
        if spec.startswith(prefix):
            spec = spec[len(prefix) :]
    return "" if any(ch in spec for ch in "*?[") else spec
