"""The git CLI, run for gitops: no prompts, credentials in an HTTP header (never in URLs or argv).

Credentials travel as `http.extraHeader` through `GIT_CONFIG_*` environment variables, so they
do not show in `ps`, in `.git/config` or in git's messages; URLs are logged without userinfo.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from dockyard.gitops.errors import GitOpsError

GIT_TIMEOUT = 300.0


class GitCommandError(GitOpsError):
    def __init__(self, args: Sequence[str], returncode: int, output: str) -> None:
        shown = " ".join(args)
        super().__init__(f"git {shown} failed (exit {returncode}): {output.strip()[-2000:]}")
        self.returncode = returncode
        self.output = output


@dataclass(frozen=True)
class GitAuth:
    """HTTP credentials for the deploy repo: basic (user + password or API token) or a token."""

    header: str

    @classmethod
    def basic(cls, username: str, password: str) -> GitAuth:
        return cls("Basic " + base64.b64encode(f"{username}:{password}".encode()).decode())

    @classmethod
    def token(cls, token: str) -> GitAuth:
        return cls(f"token {token}")

    def __repr__(self) -> str:
        return "GitAuth(<hidden>)"


def split_userinfo(url: str) -> tuple[str, GitAuth | None]:
    """`http://user:pw@host/x.git` -> (`http://host/x.git`, basic auth); other URLs unchanged."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, GitAuth.basic(unquote(user), unquote(password))


_USERINFO = re.compile(r"(\w+://)[^/@\s]+@")


def redact(text: str) -> str:
    """Hide userinfo in any URL inside `text`."""
    return _USERINFO.sub(r"\1***@", text)


class Git:
    """Runs `git` in one working tree with a fixed, non-interactive environment."""

    def __init__(
        self,
        cwd: Path,
        auth: GitAuth | None,
        log: Callable[[str], None],
        allowed_protocols: Collection[str] | None = None,
        config: Mapping[str, str] | None = None,
    ) -> None:
        self.cwd = cwd
        self.log = log
        inherited = ("GIT_CONFIG_", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")
        env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
        env.update(
            {
                "GIT_TERMINAL_PROMPT": "0",
                "GIT_ASKPASS": "true",
                "SSH_ASKPASS": "true",
                "LC_ALL": "C",
                "GIT_CONFIG_NOSYSTEM": "1",
            }
        )
        if allowed_protocols is not None:
            env["GIT_ALLOW_PROTOCOL"] = ":".join(sorted(allowed_protocols))
        config = {"commit.gpgsign": "false", "core.hooksPath": os.devnull, "protocol.version": "2",
                  **(config or {})}
        if auth is not None:
            config["http.extraHeader"] = f"Authorization: {auth.header}"
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for index, (key, value) in enumerate(config.items()):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        self.env = env

    def run(self, *args: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess[str]:
        if not quiet:
            self.log(redact("$ git " + " ".join(args)))
        try:
            proc = subprocess.run(
                ["git", *args],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise GitCommandError(
                [redact(a) for a in args], -1, f"timed out after {GIT_TIMEOUT:.0f}s"
            ) from None
        except FileNotFoundError:
            raise GitOpsError("the git program is not installed (apt-get install git)") from None
        output = redact((proc.stdout or "") + (proc.stderr or ""))
        if check and proc.returncode != 0:
            raise GitCommandError([redact(a) for a in args], proc.returncode, output)
        return proc

    def output(self, *args: str) -> str:
        return self.run(*args, quiet=True).stdout.strip()
