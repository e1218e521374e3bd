"""pollSCM's question: which commits are at the heads of the job's branches now?

`git ls-remote --heads` on the job's repository, with the clone's credentials (the URL's user
and password, or the job's `credentialsId`) as an `http.extraHeader`, never on a command line
that others could read. A repository of this Dockyard is read from its bare directory under
DATA/git (the server reads its own data; no HTTP round trip, no token needed).
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from pathlib import Path

from dockyard.ci.buildlog import SecretMasker
from dockyard.ci.podtemplate import CredentialLookup
from dockyard.ci.scm import branch_matches, local_repo, strip_credentials
from dockyard.ci.steps import BuildCredentials, StepFailed
from dockyard.ci.store import Job
from dockyard.credentials import job_credentials

__all__ = ["PollError", "remote_heads"]

TIMEOUT = 60.0  # seconds for one ls-remote
_LOCAL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*/[A-Za-z0-9_][A-Za-z0-9_.-]*")


class PollError(RuntimeError):
    """The repository could not be asked (the message is safe to log: no secrets)."""


def remote_heads(
    job: Job, base_url: str, git_root: Path, credentials: CredentialLookup | None
) -> dict[str, str]:
    """{branch: commit} of the repository's branches that the job's branch spec matches."""
    source, header, masker = _source(job, base_url, git_root, credentials)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="/bin/false")
    try:
        proc = subprocess.run(
            ["git", *header, "ls-remote", "--heads", "--", source],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PollError(
            f"git ls-remote {strip_credentials(source)[0]} took longer than {TIMEOUT:g} s"
        ) from None
    if proc.returncode != 0:
        raise PollError(f"git ls-remote failed: {masker.mask_text(proc.stderr.strip())[:500]}")
    heads: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        branch = ref.removeprefix("refs/heads/")
        if ref.startswith("refs/heads/") and branch_matches(job.branch_spec, branch):
            heads[branch] = sha
    return heads


def _source(
    job: Job, base_url: str, git_root: Path, credentials: CredentialLookup | None
) -> tuple[str, list[str], SecretMasker]:
    masker = SecretMasker([])
    if not job.scm_url:
        raise PollError("the job has no repository to poll (an inline script)")
    local = local_repo(job.scm_url, base_url)
    if local and _LOCAL.fullmatch(local) and ".." not in local:
        path = git_root / f"{local}.git"
        if path.is_dir():
            return str(path), [], masker
    clean, user, password = strip_credentials(job.scm_url)
    if user or password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        masker.add([password, token])
        return clean, ["-c", f"http.extraHeader=Authorization: Basic {token}"], masker
    if job.credentials_id and "://" in clean:
        owner = (local or "").partition("/")[0] or None
        scoped = job_credentials(credentials, job.name, repo_owner=owner)
        try:
            header = BuildCredentials(scoped, masker, git_root / ".unused").git_header(job.credentials_id)
        except StepFailed as e:
            raise PollError(str(e)) from None
        return clean, header, masker
    return clean, [], masker
