"""How git names a repository over SSH, both ways: the command a client asks the server to run
(`git-upload-pack '/owner/repo.git'`) and the clone URL the API hands out (`ssh_url`).

The command is split like a POSIX shell would (git quotes the path in single quotes) but never
run by one: only the two git services are accepted, with exactly one `owner/repo` argument, and
the names are then checked by the same rules as every other path (dockyard.git.names).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

SERVICES = ("git-upload-pack", "git-receive-pack")
MAX_COMMAND = 1024
SSH_USER = "git"  # Gitea's built-in server user; the key, not the name, says who connects


@dataclass(frozen=True)
class GitCommand:
    service: str  # git-upload-pack or git-receive-pack
    owner: str
    repo: str  # as sent, maybe with .git (the permission check strips it)


class CommandRefused(ValueError):
    """A command Dockyard does not run; the message is shown to the client."""


def parse_command(command: str) -> GitCommand:
    """The git service and repository of an SSH exec request, in any of the forms git and Gitea
    use: `git-upload-pack 'owner/repo.git'`, `git-receive-pack '/owner/repo'`, `git upload-pack
    owner/repo.git`; CommandRefused for anything else."""
    if len(command) > MAX_COMMAND or "\0" in command:
        raise CommandRefused("command refused: it is too long or contains NUL")
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise CommandRefused(f"command refused: {exc}") from None
    if len(words) >= 2 and words[0] == "git" and f"git-{words[1]}" in SERVICES:
        words = [f"git-{words[1]}", *words[2:]]
    if not words or words[0] not in SERVICES:
        shown = command if len(command) <= 80 else command[:77] + "..."
        raise CommandRefused(
            f"command {shown!r} is not allowed: Dockyard serves git over SSH only "
            "(git-upload-pack for clone/fetch, git-receive-pack for push)")
    if len(words) != 2:
        raise CommandRefused(f"{words[0]} takes exactly one repository path, such as "
                             "'owner/repo.git'")
    path = words[1].removeprefix("/")
    owner, slash, repo = path.partition("/")
    if not slash or not owner or not repo:
        raise CommandRefused(f"invalid repository path {words[1][:200]!r}: use owner/repo.git")
    return GitCommand(words[0], owner, repo)


def ssh_url_base(base_url: str, port: int) -> str:
    """What `ssh_url` is `<base><owner>/<repo>.git` with, as Gitea composes it: the scp form
    `git@host:` on port 22, else `ssh://git@host:port/`; the host is the one clients already
    use for HTTP (`--public-url` or the listen address)."""
    host = urlsplit(base_url).hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    if port == 22:
        return f"{SSH_USER}@{host}:"
    return f"ssh://{SSH_USER}@{host}:{port}/"
