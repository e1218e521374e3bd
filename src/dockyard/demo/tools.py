"""Running the user's programs (git, curl, jq, the dockyard CLI): fail with the command and its
output, never silently."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from dockyard.demo.errors import DemoError

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Bootcamp",
    "GIT_AUTHOR_EMAIL": "bootcamp@example.com",
    "GIT_COMMITTER_NAME": "Bootcamp",
    "GIT_COMMITTER_EMAIL": "bootcamp@example.com",
    "GIT_TERMINAL_PROMPT": "0",
    # the user's own git settings (signing, credential helpers, hooks paths) stay out of the demo
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}

# Debian packages that provide each program the demo runs
PACKAGES = {"git": "git", "curl": "curl", "jq": "jq", "skopeo": "skopeo", "umoci": "umoci",
            "runc": "runc", "unshare": "util-linux"}


def require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        package = PACKAGES.get(program, program)
        raise DemoError(f"{program} is not installed; install it with `apt-get install {package}`")
    return path


def run(
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
    what: str | None = None,
    hide: Sequence[str] = (),
    input_text: str | None = None,
) -> str:
    """Run a program; return its stdout; on failure raise a DemoError with its output.
    `hide` lists strings (passwords) masked in the error message."""
    try:
        result = subprocess.run(
            list(command), cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True,
            text=True, timeout=timeout, input=input_text,
            stdin=subprocess.DEVNULL if input_text is None else None,
        )
    except subprocess.TimeoutExpired:
        raise DemoError(f"{what or command[0]} did not finish within {timeout:.0f} s") from None
    if result.returncode != 0:
        detail = f"{result.stdout}\n{result.stderr}".strip()
        shown = " ".join(command)
        for secret in hide:
            detail, shown = detail.replace(secret, "****"), shown.replace(secret, "****")
        raise DemoError(f"{what or shown} failed (exit {result.returncode}):\n{detail}")
    return result.stdout


def git(*args: str, cwd: Path, what: str | None = None) -> str:
    return run(["git", *args], cwd=cwd, env=GIT_IDENTITY, what=what or f"git {args[0]}")


def dockyard(*args: str, env: Mapping[str, str] | None = None, what: str | None = None,
             hide: Sequence[str] = ()) -> str:
    """The `dockyard` CLI of this installation, as a user would run it."""
    return run([sys.executable, "-m", "dockyard", *args], env=env,
               what=what or f"dockyard {args[0]}", hide=hide)


def namespaces_available() -> str | None:
    """None when `unshare` can create mount+pid namespaces here, else the reason (the check the
    builder's tests use)."""
    if shutil.which("unshare") is None:
        return "the unshare program (util-linux) is not installed"
    result = subprocess.run(["unshare", "--mount", "--pid", "--fork", "true"], capture_output=True,
                            check=False)
    if result.returncode != 0 and os.geteuid() != 0:
        result = subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "true"],
            capture_output=True, check=False,
        )
    if result.returncode != 0:
        return f"cannot create namespaces: {result.stderr.decode().strip()}"
    return None
