"""Webhook endpoints: Gitea's CRUD and `/tests`, plus the delivery log (Dockyard's addition)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.auth import Role
from dockyard.git.api.common import ApiContext, ApiError, endpoint, json_body
from dockyard.git.pushlog import RefUpdate
from dockyard.git.repos import Repo
from dockyard.git.webhooks import Hook, HookError


class HookApi:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        base = "/repos/{owner}/{repo}/hooks"
        return [
            Route(base, endpoint(self.list_hooks), methods=["GET"]),
            Route(base, endpoint(self.create), methods=["POST"]),
            Route(base + "/{id:int}", endpoint(self.get), methods=["GET"]),
            Route(base + "/{id:int}", endpoint(self.edit), methods=["PATCH"]),
            Route(base + "/{id:int}", endpoint(self.delete), methods=["DELETE"]),
            Route(base + "/{id:int}/tests", endpoint(self.test), methods=["POST"]),
            Route(base + "/{id:int}/deliveries", endpoint(self.deliveries), methods=["GET"]),
        ]

    async def _hook(self, request: Request) -> tuple[Repo, Hook, str]:
        repo, principal, _ = await self.ctx.repo(request, Role.ADMIN)
        hook = self.ctx.hooks.get(repo.id, request.path_params["id"])
        if hook is None:
            raise ApiError(404, "webhook does not exist")
        return repo, hook, principal.username

    async def list_hooks(self, request: Request) -> Response:
        repo, _principal, _ = await self.ctx.repo(request, Role.ADMIN)
        return JSONResponse([h.to_json() for h in self.ctx.hooks.for_repo(repo.id)])

    async def create(self, request: Request) -> Response:
        repo, _principal, _ = await self.ctx.repo(request, Role.ADMIN)
        try:
            hook = self.ctx.hooks.create(repo.id, await json_body(request))
        except HookError as exc:
            raise ApiError(422, str(exc)) from exc
        return JSONResponse(hook.to_json(), status_code=201)

    async def get(self, request: Request) -> Response:
        _repo, hook, _ = await self._hook(request)
        return JSONResponse(hook.to_json())

    async def edit(self, request: Request) -> Response:
        _repo, hook, _ = await self._hook(request)
        try:
            hook = self.ctx.hooks.update(hook, await json_body(request))
        except HookError as exc:
            raise ApiError(422, str(exc)) from exc
        return JSONResponse(hook.to_json())

    async def delete(self, request: Request) -> Response:
        _repo, hook, _ = await self._hook(request)
        self.ctx.hooks.delete(hook)
        return Response(status_code=204)

    async def test(self, request: Request) -> Response:
        repo, hook, username = await self._hook(request)
        await send_test_delivery(self.ctx, repo, hook, username)
        return Response(status_code=204)

    async def deliveries(self, request: Request) -> Response:
        """Every delivery attempt, newest first: status, duration, request and response."""
        _repo, hook, _ = await self._hook(request)
        return JSONResponse(self.ctx.hooks.deliveries(hook.id))


async def send_test_delivery(ctx: ApiContext, repo: Repo, hook: Hook, username: str) -> str:
    """Send a push payload for the default branch's head to `hook` (even if inactive); the
    API's `/tests` and the web UI's "Test delivery" button. Returns the delivery id."""
    bare = ctx.repos.bare(repo)
    ref = f"refs/heads/{repo.default_branch}"
    head = await bare.resolve(ref)
    if head is None:
        raise ApiError(409, f"{repo.full_name} has no commit on {repo.default_branch} yet")
    parent = await bare.resolve(f"{head}^")
    update = RefUpdate(ref, parent or head, head)
    notifier = ctx.notifier
    base = ctx.base_url
    user = ctx.auth.get_user(username)
    from dockyard.git.payloads import user_json

    sender = user_json(user, base) if user else {"login": username}
    repository = notifier.repository_json(repo, base, empty=False)
    payload = await notifier.push_payload(bare, repo, update, repository, sender)
    return ctx.deliverer.enqueue(hook, "push", payload)
