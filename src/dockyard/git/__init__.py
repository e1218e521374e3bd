"""The git server: smart HTTP, a Gitea-compatible `/api/v1`, push events and webhooks.

Public surface for other packages:

- `GitServer(settings, db, auth, bus)`: `.routes()` (API + smart HTTP; add after every fixed
  prefix), `await .start()` / `await .stop()`, `.repos` (a `RepoService`).
- `MIGRATIONS`: the schema (`git.0001`...).
- Events on the bus, one per updated ref, after every accepted push (and after API commits):
  `Event("git.push", data)`, plus `git.create` / `git.delete` with the same data when a ref
  was created or deleted. `data` (see `push_event_data`):
  `repo_id, owner, repo, full_name, ref, branch (None for tags), tag (None for branches),
  before, after (40 zeros when created/deleted), created, deleted, pusher, private,
  default_branch, clone_url, git_dir (the bare repository's path, for local clones),
  source ("push" or "api"), pushed_at (ISO 8601 UTC)`.
"""

from dockyard.git.migrations import MIGRATIONS
from dockyard.git.names import RESERVED_OWNERS, InvalidName, validate_owner, validate_repo
from dockyard.git.pushes import CREATE_EVENT, DELETE_EVENT, PUSH_EVENT, push_event_data
from dockyard.git.repos import Repo, RepoError, RepoService
from dockyard.git.server import GitServer

__all__ = [
    "CREATE_EVENT",
    "DELETE_EVENT",
    "GitServer",
    "InvalidName",
    "MIGRATIONS",
    "PUSH_EVENT",
    "RESERVED_OWNERS",
    "Repo",
    "RepoError",
    "RepoService",
    "push_event_data",
    "validate_owner",
    "validate_repo",
]
