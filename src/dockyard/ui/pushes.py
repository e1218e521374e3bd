"""Recent pushes for the home page: every `git.push` on the event bus is recorded (the newest
1000 kept); the page shows those of repositories the visitor may read (git's RepoService.role)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dockyard.auth import Principal, Role
from dockyard.events import PUSH, EventBus, PushEvent
from dockyard.store import Database, utcnow

log = logging.getLogger(__name__)
KEEP = 1000


class PushLog:
    def __init__(self, db: Database, bus: EventBus) -> None:
        self.db = db
        bus.subscribe(PUSH, self.on_push)

    def on_push(self, event: PushEvent) -> None:
        """On the bus (the event loop when there is one): the write goes to a thread."""
        if event.repo_id is None or event.deleted:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._record(event)
            return
        loop.run_in_executor(None, self._record, event)

    def _record(self, event: PushEvent) -> None:
        try:
            self.db.write(
                "INSERT INTO ui_pushes (repo_id, full_name, ref, after, pusher, pushed_at)"
                " VALUES (:r, :n, :ref, :a, :p, :t)",
                r=event.repo_id, n=event.full_name, ref=event.ref, a=event.after, p=event.pusher,
                t=event.pushed_at or utcnow().isoformat())
            self.db.write("DELETE FROM ui_pushes WHERE id <= (SELECT MAX(id) FROM ui_pushes) - :k",
                          k=KEEP)
        except Exception:
            log.exception("recording a push for the home page failed")

    def recent(self, repos: Any, principal: Principal, limit: int) -> list[Any]:
        """The newest pushes to repositories `principal` may read (each repository checked once)."""
        allowed: dict[int, Any] = {}
        out = []
        for row in self.db.rows("SELECT * FROM ui_pushes ORDER BY id DESC LIMIT :l", l=KEEP):
            if row.repo_id not in allowed:
                repo = repos.get_by_id(row.repo_id)
                allowed[row.repo_id] = repo if repo and repos.role(principal, repo) >= Role.READ else None
            repo = allowed[row.repo_id]
            if repo is not None:
                out.append({"repo": repo, "ref": row.ref, "branch": row.ref.removeprefix("refs/heads/"),
                            "after": row.after, "pusher": row.pusher, "pushed_at": row.pushed_at})
                if len(out) >= limit:
                    break
        return out
