"""Commit statuses: CI reports pending/success/failure per commit and context, as in Gitea."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.auth import Role
from dockyard.git.api.common import (
    ApiContext,
    ApiError,
    endpoint,
    json_body,
    page_params,
    str_field,
)
from dockyard.git.repos import Repo
from dockyard.git.statuses import STATES, StatusStore

# Gitea's combined state: the worst state wins.
_SEVERITY = {"success": 0, "warning": 1, "pending": 2, "failure": 3, "error": 4}


class StatusApi:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/repos/{owner}/{repo}/statuses/{sha}", endpoint(self.create),
                  methods=["POST"]),
            Route("/repos/{owner}/{repo}/statuses/{sha}", endpoint(self.list_statuses),
                  methods=["GET"]),
            Route("/repos/{owner}/{repo}/commits/{ref:path}/statuses",
                  endpoint(self.list_statuses), methods=["GET"]),
            Route("/repos/{owner}/{repo}/commits/{ref:path}/status", endpoint(self.combined),
                  methods=["GET"]),
        ]

    async def _sha(self, request: Request, repo: Repo) -> str:
        rev = request.path_params.get("sha") or request.path_params.get("ref", "")
        sha = await self.ctx.repos.bare(repo).resolve(rev)
        if sha is None:
            raise ApiError(404, f"no commit named {rev!r}")
        return sha

    async def create(self, request: Request) -> Response:
        """`CreateStatusOption`: state, target_url, description, context."""
        repo, principal, _ = await self.ctx.repo(request, Role.WRITE)
        sha = await self._sha(request, repo)
        body = await json_body(request)
        state = str_field(body, "state")
        if state not in STATES:
            raise ApiError(422, f"state must be one of {', '.join(STATES)}")
        status_id = StatusStore(self.ctx.repos.db).record(
            repo.id, sha, state, target_url=str_field(body, "target_url"),
            description=str_field(body, "description"), context=str_field(body, "context"),
            creator=principal.username,
        )
        return JSONResponse(self._json(repo, self._row(int(status_id or 0))), status_code=201)

    async def list_statuses(self, request: Request) -> Response:
        repo, _principal, _ = await self.ctx.repo(request)
        sha = await self._sha(request, repo)
        page, limit = page_params(request)
        rows = self._rows(repo, sha)
        chunk = rows[(page - 1) * limit: page * limit]
        return JSONResponse([self._json(repo, r) for r in chunk],
                            headers={"X-Total-Count": str(len(rows))})

    async def combined(self, request: Request) -> Response:
        """The newest status per context and the worst of them, as Gitea's CombinedStatus."""
        repo, _principal, _ = await self.ctx.repo(request)
        sha = await self._sha(request, repo)
        latest: dict[str, Any] = {}
        for row in self._rows(repo, sha):  # newest first
            latest.setdefault(row.context, row)
        statuses = [self._json(repo, r) for r in latest.values()]
        state = max((s["status"] for s in statuses), key=lambda s: _SEVERITY.get(s, 0),
                    default="")
        from dockyard.git.api.repos import RepoApi

        return JSONResponse({
            "state": state, "sha": sha, "total_count": len(statuses), "statuses": statuses,
            "repository": await RepoApi(self.ctx).to_json(repo, None),
            "commit_url": f"{self.ctx.base_url}/api/v1/repos/{repo.full_name}/commits/{sha}",
            "url": f"{self.ctx.base_url}/api/v1/repos/{repo.full_name}/commits/{sha}/status",
        })

    def _rows(self, repo: Repo, sha: str) -> list[Any]:
        with self.ctx.repos.db.read() as conn:
            return list(conn.execute(
                text("SELECT * FROM git_statuses WHERE repo_id = :r AND sha = :s"
                     " ORDER BY id DESC"), {"r": repo.id, "s": sha}).all())

    def _row(self, status_id: int) -> Any:
        with self.ctx.repos.db.read() as conn:
            return conn.execute(text("SELECT * FROM git_statuses WHERE id = :i"),
                                {"i": status_id}).one()

    def _json(self, repo: Repo, row: Any) -> dict[str, Any]:
        """Gitea's `CommitStatus` (its state field is called `status`)."""
        creator = self.ctx.auth.get_user(row.creator) if row.creator else None
        from dockyard.git.apitime import gitea_time
        from dockyard.git.payloads import user_json

        return {
            "id": row.id,
            "status": row.state,
            "target_url": row.target_url,
            "description": row.description,
            "url": f"{self.ctx.base_url}/api/v1/repos/{repo.full_name}/statuses/{row.sha}",
            "context": row.context,
            "creator": user_json(creator, self.ctx.base_url) if creator else None,
            "created_at": gitea_time(row.created_at),
            "updated_at": gitea_time(row.updated_at),
        }
