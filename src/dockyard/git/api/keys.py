"""Gitea's SSH key endpoints: `/user/keys` (the caller's own), `/users/{u}/keys` (anyone's public
keys, as Gitea shows them) and `/admin/users/{u}/keys` (an administrator acting for a user).

Another user's key id answers 404 (never 403): key ids say nothing about who holds them.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.auth import Principal, User
from dockyard.git.api.common import ApiContext, ApiError, endpoint, json_body, paged, str_field
from dockyard.git.apitime import gitea_time
from dockyard.git.payloads import user_json
from dockyard.git.sshkeys import MAX_KEY_TEXT, MAX_TITLE, PublicKey, PublicKeyStore


class KeysApi:
    def __init__(self, ctx: ApiContext, keys: PublicKeyStore) -> None:
        self.ctx = ctx
        self.keys = keys

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/user/keys", endpoint(self.list_mine), methods=["GET"]),
            Route("/user/keys", endpoint(self.create_mine), methods=["POST"]),
            Route("/user/keys/{id:int}", endpoint(self.get_mine), methods=["GET"]),
            Route("/user/keys/{id:int}", endpoint(self.delete_mine), methods=["DELETE"]),
            Route("/users/{username}/keys", endpoint(self.list_of_user), methods=["GET"]),
            Route("/admin/users/{username}/keys", endpoint(self.create_as_admin), methods=["POST"]),
            Route("/admin/users/{username}/keys/{id:int}", endpoint(self.delete_as_admin),
                  methods=["DELETE"]),
        ]

    # the caller's own keys ---------------------------------------------------------
    async def list_mine(self, request: Request) -> Response:
        """`GET /user/keys[?fingerprint=SHA256:...]`."""
        principal = await self.ctx.user(request)
        found = self.keys.of_user(_uid(principal), request.query_params.get("fingerprint", ""))
        return paged(request, [self._json(k, principal) for k in found])

    async def create_mine(self, request: Request) -> Response:
        principal = await self.ctx.user(request)
        user = self._user(principal.username)
        return await self._create(request, user, principal)

    async def get_mine(self, request: Request) -> Response:
        principal = await self.ctx.user(request)
        key = self.keys.get(request.path_params["id"])
        if key is None or key.user_id != principal.user_id:
            raise ApiError(404, "public key does not exist")
        return JSONResponse(self._json(key, principal))

    async def delete_mine(self, request: Request) -> Response:
        principal = await self.ctx.user(request)
        if not self.keys.delete(_uid(principal), request.path_params["id"]):
            raise ApiError(404, "public key does not exist")
        return Response(status_code=204)

    # other users' keys ---------------------------------------------------------------
    async def list_of_user(self, request: Request) -> Response:
        """Gitea lists anyone's public keys (they are public); signed in or not."""
        principal = await self.ctx.principal(request)
        user = self._user(request.path_params["username"])
        found = self.keys.of_user(user.id, request.query_params.get("fingerprint", ""))
        return paged(request, [self._json(k, principal) for k in found])

    async def create_as_admin(self, request: Request) -> Response:
        principal = await self._admin(request)
        return await self._create(request, self._user(request.path_params["username"]), principal)

    async def delete_as_admin(self, request: Request) -> Response:
        await self._admin(request)
        user = self._user(request.path_params["username"])
        if not self.keys.delete(user.id, request.path_params["id"]):
            raise ApiError(404, "public key does not exist")
        return Response(status_code=204)

    # helpers -----------------------------------------------------------------------
    async def _create(self, request: Request, user: User, principal: Principal) -> Response:
        """Gitea's `CreateKeyOption`: title and key required; `read_only` is for deploy keys."""
        body = await json_body(request)
        title = str_field(body, "title", max_len=MAX_TITLE)
        content = str_field(body, "key", max_len=MAX_KEY_TEXT)
        # parsing loads asyncssh the first time: off the event loop; SSHKeyError is a 422
        key = await run_in_threadpool(self.keys.add, user.id, title, content)
        return JSONResponse(self._json(key, principal), status_code=201)

    async def _admin(self, request: Request) -> Principal:
        principal = await self.ctx.user(request)
        if not principal.is_admin:
            raise ApiError(403, "only administrators may manage other users' keys")
        return principal

    def _user(self, username: str) -> User:
        user = self.ctx.auth.get_user(username)
        if user is None:
            raise ApiError(404, "user does not exist")
        return user

    def _json(self, key: PublicKey, viewer: Principal) -> dict[str, Any]:
        """Gitea's `PublicKey`."""
        base = self.ctx.base_url
        user = self.ctx.auth.get_user(key.username)
        return {
            "id": key.id,
            "key": key.content,
            "url": f"{base}/api/v1/user/keys/{key.id}",
            "title": key.title,
            "fingerprint": key.fingerprint,
            "created_at": gitea_time(key.created_at),
            "user": user_json(user, base, viewer) if user else None,
            "read_only": False,
            "key_type": "user",
        }


def _uid(principal: Principal) -> int:
    assert principal.user_id is not None  # ApiContext.user() refuses anonymous callers
    return principal.user_id
