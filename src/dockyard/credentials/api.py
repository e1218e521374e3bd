"""JSON API for the credential store under `/api/ci/credentials` (administrators only).

    GET    /api/ci/credentials          -> {"credentials": [info, ...]}  (never a secret)
    POST   /api/ci/credentials          body {"id", "kind", ...fields}  -> 201 info; 409 if the id exists
    GET    /api/ci/credentials/{id}     -> info
    PUT    /api/ci/credentials/{id}     body {"kind", ...fields}  -> 200/201 info (create or replace)
    DELETE /api/ci/credentials/{id}     -> 204; 404 if absent

Fields per kind: username_password {username, password}; secret_text {text}; docker_config
{server, username, password[, email]} or {config_json}; secret_file {filename, content_base64}.
Writes must be `application/json` (a cross-site form post cannot be), so CSRF needs no crumb.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.auth import AuthService, Principal, is_write, missing_scope, parse_authorization
from dockyard.credentials.models import CredentialError, from_request
from dockyard.credentials.store import CredentialExists, CredentialStore
from dockyard.http import json_object


class _Fail(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


class CredentialsAPI:
    def __init__(self, store: CredentialStore, auth: AuthService) -> None:
        self.store = store
        self.auth = auth

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/ci/credentials", self._collection, methods=["GET", "POST"]),
            Route("/api/ci/credentials/{credential_id}", self._item, methods=["GET", "PUT", "DELETE"]),
        ]

    async def _collection(self, request: Request) -> Response:
        try:
            principal = self._admin(request)
            if request.method == "GET":
                return JSONResponse({"credentials": [i.to_json() for i in self.store.list()]})
            credential = from_request(await _json_body(request))
            info = self.store.put(credential, created_by=principal.username)
            return JSONResponse(info.to_json(), status_code=201)
        except _Fail as exc:
            return _error(exc.status, exc.message, exc.headers)
        except CredentialExists as exc:
            return _error(409, str(exc))
        except CredentialError as exc:
            return _error(400, str(exc))

    async def _item(self, request: Request) -> Response:
        credential_id = request.path_params["credential_id"]
        try:
            principal = self._admin(request)
            if request.method == "GET":
                info = self.store.info(credential_id)
                if info is None:
                    raise _Fail(404, f"credential {credential_id!r} not found")
                return JSONResponse(info.to_json())
            if request.method == "DELETE":
                if not self.store.delete(credential_id):
                    raise _Fail(404, f"credential {credential_id!r} not found")
                return Response(status_code=204)
            body = await _json_body(request)
            if body.get("id", credential_id) != credential_id:
                raise _Fail(400, f"body id {body.get('id')!r} does not match the URL id {credential_id!r}")
            existed = self.store.info(credential_id) is not None
            credential = from_request({**body, "id": credential_id})
            info = self.store.put(credential, created_by=principal.username, replace=True)
            return JSONResponse(info.to_json(), status_code=200 if existed else 201)
        except _Fail as exc:
            return _error(exc.status, exc.message, exc.headers)
        except CredentialError as exc:
            return _error(400, str(exc))

    def _admin(self, request: Request) -> Principal:
        principal = self.auth.authenticate(parse_authorization(request.headers.get("authorization")))
        challenge = {"WWW-Authenticate": 'Basic realm="Dockyard"'}
        if principal is None:
            raise _Fail(401, "invalid username, password or token", challenge)
        if principal.is_anonymous:
            raise _Fail(401, "authentication required (an administrator's password or API token)", challenge)
        if not principal.is_admin:
            who = principal.username
            raise _Fail(403, f"user {who!r} is not an administrator (credentials are admin-only)")
        writing = is_write(request.method)
        if not principal.allows("admin", writing):  # an API token needs read:/write:admin
            raise _Fail(403, missing_scope("admin", writing))
        return principal


async def _json_body(request: Request) -> dict[str, Any]:
    """The credential as a JSON object; only `application/json` (a cross-site form cannot send it)."""
    return await json_object(request)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
