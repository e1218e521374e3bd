"""What happens after a push: one `PushEvent` per updated ref on the bus, then webhooks.

The bus events are published as soon as git has updated the refs (CI hears of a push in
milliseconds); building Gitea payloads needs `git log` and runs in a background task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from dockyard.auth import Principal, Role
from dockyard.events import CREATE, DELETE, PUSH, EventBus, PushEvent
from dockyard.git.bare import BareRepo, CommitInfo
from dockyard.git.gitcmd import ZERO_SHA
from dockyard.git.payloads import payload_commit_json, repo_json, user_json
from dockyard.git.pushlog import RefUpdate
from dockyard.git.repos import Repo, RepoService
from dockyard.git.webhooks import Deliverer, HookStore
from dockyard.store import utcnow

log = logging.getLogger(__name__)

# Gitea's [ui] FEED_MAX_COMMIT_NUM: a push payload lists at most this many commits (newest
# first); `total_commits` still counts all of them.
MAX_PAYLOAD_COMMITS = 5

def push_event(repo: Repo, update: RefUpdate, pusher: str, clone_url: str, git_dir: str,
               source: str) -> PushEvent:
    """The `git.push` event of one ref update (the contract CI consumes)."""
    return PushEvent(
        ref=update.ref, before=update.before, after=update.after, clone_url=clone_url,
        pusher=pusher, full_name=repo.full_name, owner=repo.owner, repo=repo.name,
        repo_id=repo.id, private=repo.private, default_branch=repo.default_branch,
        git_dir=git_dir, source=source, pushed_at=utcnow().isoformat(),
    )


class PushNotifier:
    def __init__(
        self,
        repos: RepoService,
        hooks: HookStore,
        deliverer: Deliverer,
        bus: EventBus,
        base_url: Callable[[], str],
        ssh_base: str = "",
    ) -> None:
        self.repos = repos
        self.hooks = hooks
        self.deliverer = deliverer
        self.bus = bus
        self.base_url = base_url
        self.ssh_base = ssh_base  # '' while git over SSH is off (see repository_json)
        self._tasks: set[asyncio.Task[None]] = set()

    async def on_push(self, repo: Repo, pusher: Principal, updates: list[RefUpdate],
                      source: str = "push") -> None:
        base = self.base_url()
        clone_url = f"{base}/{repo.full_name}.git"
        git_dir = str(self.repos.path_of(repo.owner, repo.name))
        for update in updates:
            event = push_event(repo, update, pusher.username, clone_url, git_dir, source)
            self.bus.publish(event)
            if event.created:
                self.bus.publish(replace(event, kind=CREATE))
            if event.deleted:
                self.bus.publish(replace(event, kind=DELETE))
        hooks = await asyncio.to_thread(self.hooks.for_repo, repo.id)
        if any(h.active for h in hooks):
            task = asyncio.create_task(self._webhooks(repo, pusher, updates, hooks))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until payloads are built and deliveries finished (tests, benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.deliverer.drain()

    async def drain_quickly(self, timeout: float = 5.0) -> None:
        """On shutdown: let payload building finish briefly; pending retries are dropped."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def _webhooks(self, repo: Repo, pusher: Principal, updates: list[RefUpdate],
                        hooks: list[Any]) -> None:
        try:
            base = self.base_url()
            bare = self.repos.bare(repo)
            sender = self._sender(pusher, base)
            empty = all(u.deleted for u in updates) and await bare.is_empty()
            repository = self.repository_json(repo, base, empty=empty)
            for update in updates:
                branch = update.branch
                short = branch or update.tag or update.ref
                ref_type = "branch" if branch else "tag"
                if update.created and any(h.wants("create", branch) for h in hooks):
                    payload = {"sha": update.after, "ref": short, "ref_type": ref_type,
                               "repository": repository, "sender": sender}
                    self._send(hooks, "create", branch, payload)
                if update.deleted:
                    payload = {"ref": short, "ref_type": ref_type, "pusher_type": "user",
                               "repository": repository, "sender": sender}
                    self._send(hooks, "delete", branch, payload)
                    continue
                if any(h.wants("push", branch) for h in hooks):
                    payload = await self.push_payload(bare, repo, update, repository, sender)
                    self._send(hooks, "push", branch, payload)
        except Exception:
            log.exception("building webhook payloads for %s failed", repo.full_name)

    def _send(self, hooks: list[Any], event: str, branch: str | None,
              payload: dict[str, Any]) -> None:
        for hook in hooks:
            if hook.wants(event, branch):
                self.deliverer.enqueue(hook, event, payload)

    async def push_payload(self, bare: BareRepo, repo: Repo, update: RefUpdate,
                           repository: dict[str, Any], sender: dict[str, Any]) -> dict[str, Any]:
        """Gitea's `PushPayload` for one ref update."""
        html_url = repository["html_url"]
        if update.created:
            others = [sha for ref, sha in (await bare.refs("refs/heads/")).items()
                      if ref != update.ref and sha != update.after]
            revs = [update.after, *(f"^{sha}" for sha in others)]
            compare_url = ""
        else:
            revs = [update.after, f"^{update.before}"]
            compare_url = f"{html_url}/compare/{update.before}...{update.after}"
        commits = await bare.log(revs, max_count=MAX_PAYLOAD_COMMITS, with_files=True)
        # counting walks the whole range: only needed when the list was cut
        total = len(commits) if len(commits) < MAX_PAYLOAD_COMMITS else await bare.count(revs)
        head: CommitInfo | None = next((c for c in commits if c.sha == update.after), None)
        if head is None:
            found = await bare.log([update.after], max_count=1, with_files=True, no_walk=True)
            head = found[0] if found else None
        return {
            "ref": update.ref,
            "before": update.before,
            "after": update.after,
            "compare_url": compare_url,
            "commits": [payload_commit_json(c, html_url) for c in commits],
            "total_commits": total,
            "head_commit": payload_commit_json(head, html_url) if head else None,
            "repository": repository,
            "pusher": sender,
            "sender": sender,
        }

    def _sender(self, principal: Principal, base: str) -> dict[str, Any]:
        user = self.repos.auth.get_user(principal.username) if principal.username else None
        if user is None:
            return {"id": 0, "login": principal.username, "username": principal.username,
                    "full_name": "", "email": ""}
        return user_json(user, base)

    def repository_json(self, repo: Repo, base: str, *, empty: bool,
                        role: Role | None = None) -> dict[str, Any]:
        """Gitea's `Repository` of `repo` (API answers and webhook payloads alike)."""
        return repo_json(repo, base, self.owner_json(repo.owner, base), empty=empty, role=role,
                         ssh_base=self.ssh_base)

    def owner_json(self, owner: str, base: str) -> dict[str, Any]:
        from dockyard.git.payloads import org_as_owner_json

        user = self.repos.auth.get_user(owner)
        if user is not None:
            return user_json(user, base)
        org = self.repos.get_org(owner)
        if org is not None:
            return org_as_owner_json(org, base)
        return {"id": 0, "login": owner, "username": owner}


__all__ = ["ZERO_SHA", "PushNotifier", "push_event", "PUSH"]
