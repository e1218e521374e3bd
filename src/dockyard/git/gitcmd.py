"""Run the git CLI: every repository operation Dockyard performs is a real `git` process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path

ZERO_SHA = "0" * 40

# Configuration that must never come from the machine's ~/.gitconfig or /etc/gitconfig; and
# repositories keep the server's private umask even if a repository's config asks to share.
_BASE_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "core.sharedRepository",
    "GIT_CONFIG_VALUE_0": "umask",
}


class GitError(RuntimeError):
    """A git command failed; carries its stderr so the caller can say why."""

    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        super().__init__(f"git {' '.join(args[:3])} failed ({returncode}): {stderr.strip()}")
        self.returncode = returncode
        self.stderr = stderr


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a git subprocess: ours, isolated from user and system config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(_BASE_ENV)
    env["HOME"] = "/nonexistent"  # no user config (~/.gitconfig) reaches the server's git
    if extra:
        env.update(extra)
    return env


async def run_git(
    repo: Path | None,
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> bytes:
    """stdout of `git [--git-dir repo] args`; raises GitError when the command fails."""
    argv = ["git"]
    if repo is not None:
        argv += ["--git-dir", str(repo)]
    argv += list(args)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=git_env(env),
    )
    out, err = await proc.communicate(input)
    if check and proc.returncode != 0:
        raise GitError(list(args), proc.returncode or -1, err.decode(errors="replace"))
    return out


async def try_git(repo: Path, *args: str) -> bytes | None:
    """stdout of a git command, or None when it fails (an unknown ref, an empty repository)."""
    try:
        return await run_git(repo, *args)
    except GitError:
        return None
