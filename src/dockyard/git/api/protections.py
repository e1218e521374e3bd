"""Gitea's branch protection endpoints (`/repos/{o}/{r}/branch_protections`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.auth import Role
from dockyard.git.api.common import ApiContext, ApiError, endpoint, json_body
from dockyard.git.protection import Protection, ProtectionError


class ProtectionApi:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        base = "/repos/{owner}/{repo}/branch_protections"
        return [
            Route(base, endpoint(self.list_rules), methods=["GET"]),
            Route(base, endpoint(self.create), methods=["POST"]),
            Route(base + "/{name:path}", endpoint(self.get), methods=["GET"]),
            Route(base + "/{name:path}", endpoint(self.edit), methods=["PATCH"]),
            Route(base + "/{name:path}", endpoint(self.delete), methods=["DELETE"]),
        ]

    async def _rule(self, request: Request) -> Protection:
        repo, _principal, _ = await self.ctx.repo(request, Role.ADMIN)
        rule = self.ctx.protections.get(repo.id, request.path_params["name"])
        if rule is None:
            raise ApiError(404, "branch protection does not exist")
        return rule

    async def list_rules(self, request: Request) -> Response:
        repo, _principal, _ = await self.ctx.repo(request, Role.ADMIN)
        return JSONResponse([r.to_json() for r in self.ctx.protections.for_repo(repo.id)])

    async def create(self, request: Request) -> Response:
        repo, _principal, _ = await self.ctx.repo(request, Role.ADMIN)
        try:
            rule = self.ctx.protections.create(repo.id, await json_body(request))
        except ProtectionError as exc:
            raise ApiError(422, str(exc)) from exc
        return JSONResponse(rule.to_json(), status_code=201)

    async def get(self, request: Request) -> Response:
        return JSONResponse((await self._rule(request)).to_json())

    async def edit(self, request: Request) -> Response:
        rule = await self._rule(request)
        try:
            rule = self.ctx.protections.update(rule, await json_body(request))
        except ProtectionError as exc:
            raise ApiError(422, str(exc)) from exc
        return JSONResponse(rule.to_json())

    async def delete(self, request: Request) -> Response:
        rule = await self._rule(request)
        self.ctx.protections.delete(rule)
        return Response(status_code=204)
