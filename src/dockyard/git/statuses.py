"""Commit statuses storage, shared by the Gitea API and by CI's `ci.status` bus events.

CI publishes `Event("ci.status", {full_name, sha, state, target_url, description, context})`
for each build it starts and finishes; recording it here makes it visible through
`GET /api/v1/repos/{o}/{r}/statuses/{sha}` exactly as if CI had called Gitea's API.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text

from dockyard.events import Event, EventBus
from dockyard.git.repos import RepoService
from dockyard.store import Database, insert_row, utcnow

log = logging.getLogger(__name__)
STATES = ("pending", "success", "error", "failure", "warning")


class StatusStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        repo_id: int,
        sha: str,
        state: str,
        *,
        target_url: str = "",
        description: str = "",
        context: str = "",
        creator: str = "",
    ) -> int:
        """Insert one status; returns its id."""
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}")
        now = utcnow().isoformat()
        with self.db.transaction() as conn:
            return int(insert_row(conn, "git_statuses", {
                "repo_id": repo_id, "sha": sha, "state": state, "target_url": target_url,
                "description": description, "context": context or "default", "creator": creator,
                "created_at": now, "updated_at": now,
            }))


    def latest(self, repo_id: int, sha: str) -> list[Any]:
        """The newest status of each context of one commit (what a badge shows), by context."""
        with self.db.read() as conn:
            rows = conn.execute(text("SELECT * FROM git_statuses WHERE repo_id = :r AND sha = :s"
                                     " ORDER BY id DESC"), {"r": repo_id, "s": sha}).all()
        newest: dict[str, Any] = {}
        for row in rows:
            newest.setdefault(row.context, row)
        return sorted(newest.values(), key=lambda r: r.context)

def record_ci_statuses(bus: EventBus, repos: RepoService, store: StatusStore) -> None:
    """Subscribe to CI's `ci.status` events and store each for the repository it names."""

    def on_status(event: Event) -> None:
        data = event.data
        owner, _, name = str(data.get("full_name", "")).partition("/")
        repo = repos.get(owner, name) if owner and name else None
        if repo is None:
            return  # a build of a repository hosted elsewhere
        try:
            store.record(
                repo.id,
                str(data.get("sha", "")),
                str(data.get("state", "")),
                target_url=str(data.get("target_url", "")),
                description=str(data.get("description", "")),
                context=str(data.get("context", "")),
                creator="dockyard-ci",
            )
        except ValueError as exc:
            log.warning("ignored a CI status for %s: %s", repo.full_name, exc)

    bus.subscribe("ci.status", on_status)
