"""Helpers for driving the real `dockyard` command as a subprocess against `dockyard up`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer

CLEAN = ("DOCKYARD_URL", "DOCKYARD_USER", "DOCKYARD_PASSWORD", "DOCKYARD_TOKEN", "DOCKYARD_DATA_DIR")


def environ(server: DockyardServer | None = None, user: str | None = ADMIN_USER,
            password: str | None = ADMIN_PASSWORD, **extra: str) -> dict[str, str]:
    """The caller's environment without DOCKYARD_* settings, plus this server's address and login."""
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    if server is not None:
        env["DOCKYARD_URL"] = server.url
    if user is not None:
        env["DOCKYARD_USER"] = user
    if password is not None:
        env["DOCKYARD_PASSWORD"] = password
    env.update(extra)
    return env


def dockyard(*args: str, env: dict[str, str], stdin: str | None = None,
             cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`dockyard ARGS` as a user runs it: its own process, stdin not a terminal."""
    return subprocess.run([sys.executable, "-m", "dockyard", *args], env=env, input=stdin or "",
                          capture_output=True, text=True, timeout=180, cwd=cwd)


def one_line_error(proc: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The error of a failed command: exit `code`, exactly one line on stderr, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]
