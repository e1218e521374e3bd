"""The git server: smart HTTP, SSH (when on), a Gitea-compatible `/api/v1`, push events and webhooks.

Public surface for other packages:

- `GitServer(services)`, a `dockyard.services.Component`: `.routes()` (API + smart HTTP; add after every fixed
  prefix), `await .start()` / `await .stop()`, `.repos` (a `RepoService`).
- `MIGRATIONS`: the schema (`git.0001`...).
- Events on the bus, one per updated ref, after every accepted push (and after API commits):
  a `dockyard.events.PushEvent` with kind `git.push`, plus the same event with kind
  `git.create` / `git.delete` when a ref was created or deleted (see `push_event`).
"""

from dockyard.git.api.common import ApiError
from dockyard.git.gitcmd import GitError
from dockyard.git.migrations import MIGRATIONS
from dockyard.git.names import RESERVED_OWNERS, InvalidName, validate_owner, validate_repo
from dockyard.git.protection import ProtectionError
from dockyard.git.pushes import push_event
from dockyard.git.repos import Repo, RepoError, RepoService, collaborator_namespace
from dockyard.git.server import GitServer
from dockyard.git.webhooks import HookError

__all__ = [
    "collaborator_namespace",
    "ApiError",
    "GitError",
    "HookError",
    "ProtectionError",
    "GitServer",
    "InvalidName",
    "MIGRATIONS",
    "RESERVED_OWNERS",
    "Repo",
    "RepoError",
    "RepoService",
    "push_event",
    "validate_owner",
    "validate_repo",
]
