"""The push event: the one contract between the git server (publisher) and CI (subscriber).

Dockyard's git server publishes one `PushEvent` per updated ref after every accepted push and
every commit through the contents API (`kind` "git.push"), and the same event again with
`kind` "git.create" / "git.delete" when the ref was created / deleted. CI also builds one from
an external forge's webhook (`source` "webhook"), so both triggers run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

ZERO_SHA = "0" * 40
PUSH = "git.push"
CREATE = "git.create"
DELETE = "git.delete"


@dataclass(frozen=True)
class RefChange:
    """One ref moved by a push; what it is (branch or tag, created or deleted) follows from it."""

    ref: str  # full name: refs/heads/main, refs/tags/v1
    before: str  # 40 hex; ZERO_SHA when the ref was created
    after: str  # 40 hex; ZERO_SHA when the ref was deleted

    @property
    def branch(self) -> str | None:
        """The short branch name, None for a tag or another ref."""
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None

    @property
    def tag(self) -> str | None:
        return self.ref.removeprefix("refs/tags/") if self.ref.startswith("refs/tags/") else None

    @property
    def created(self) -> bool:
        return self.before == ZERO_SHA

    @property
    def deleted(self) -> bool:
        return self.after == ZERO_SHA


@dataclass(frozen=True)
class PushEvent(RefChange):
    """A `RefChange` with where it happened and who did it."""

    clone_url: str  # http://host:port/owner/repo.git (needs credentials when private)
    pusher: str  # username
    full_name: str = ""  # owner/repo
    owner: str = ""
    repo: str = ""
    repo_id: int | None = None  # Dockyard's repository id; None from a forge's webhook
    private: bool = False
    default_branch: str = ""
    git_dir: str = ""  # the bare repository's path (DATA/git/<owner>/<repo>.git), local clones
    source: str = "push"  # "push" (git client), "api" (contents API), "webhook" (a forge)
    pushed_at: str = ""  # ISO 8601 UTC
    kind: str = PUSH  # the bus topic: PUSH, CREATE or DELETE
