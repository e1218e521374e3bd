"""JSON API for the credential store under `/api/ci/credentials`.

    GET    /api/ci/credentials          -> {"credentials": [info, ...]}  (never a secret; only the
                                           credentials the caller may manage; ?owner=NAME filters)
    POST   /api/ci/credentials          body {"id", "kind", "owner"?, ...fields}  -> 201 info; 409: id exists
    GET    /api/ci/credentials/{id}     -> info
    PUT    /api/ci/credentials/{id}     body {"kind", "owner"?, ...fields}  -> 200/201 info (create/replace)
    DELETE /api/ci/credentials/{id}     -> 204; 404 if absent
    POST   /api/ci/credentials/{id}/grants        body {"job": NAME}  -> 200 info (the job may bind it)
    DELETE /api/ci/credentials/{id}/grants/{job}  -> 204; 404 if there was no such grant

Owner and scope: `owner` absent or null is a system credential, which only administrators manage
(token scope `admin`); `owner` a user or org name makes it that namespace's, managed by the user
themself, the org's administrators and Dockyard's (token scope `user` / `organization`). Who may
*bind* one in a build is `dockyard.credentials.scope`'s rule; info shows `scope`, `owner` and
`granted_jobs`. A credential the caller may not manage answers 404, as if absent.

Fields per kind: username_password {username, password}; secret_text {text}; docker_config
{server, username, password[, email]} or {config_json}; secret_file {filename, content_base64}.
Writes must be `application/json` (a cross-site form post cannot be), so CSRF needs no crumb.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.auth import AuthService, Principal, Role, is_write, missing_scope
from dockyard.credentials.models import CredentialError, from_request
from dockyard.credentials.store import CredentialExists, CredentialInfo, CredentialNotFound, CredentialStore
from dockyard.http import json_object, principal_of

_JOB = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class _Fail(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


class CredentialsAPI:
    def __init__(self, store: CredentialStore, auth: AuthService) -> None:
        self.store = store
        self.auth = auth

    def routes(self) -> list[BaseRoute]:
        item = "/api/ci/credentials/{credential_id}"
        return [
            Route("/api/ci/credentials", self._collection, methods=["GET", "POST"]),
            Route(item, self._item, methods=["GET", "PUT", "DELETE"]),
            Route(item + "/grants", self._grants, methods=["POST"]),
            Route(item + "/grants/{job}", self._grants, methods=["DELETE"]),
        ]

    async def _collection(self, request: Request) -> Response:
        try:
            principal = await self._user(request)
            if request.method == "GET":
                wanted = request.query_params.get("owner")
                items = [i for i in self.store.list() if self._lists(principal, i.owner)
                         and (wanted is None or i.owner.lower() == wanted.lower())]
                return JSONResponse({"credentials": [i.to_json() for i in items]})
            body = await _json_body(request)
            owner = self._owner(body.get("owner"))
            self._require(principal, owner, writing=True)
            credential = from_request(body)
            info = self.store.put(credential, created_by=principal.username, owner=owner)
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
            principal = await self._user(request)
            writing = is_write(request.method)
            existing = self.store.info(credential_id)
            if existing is not None:
                self._require(principal, existing.owner, writing=writing, hide=True)
            if request.method == "GET":
                return JSONResponse(self._found(credential_id, existing).to_json())
            if request.method == "DELETE":
                self._found(credential_id, existing)
                self.store.delete(credential_id)
                return Response(status_code=204)
            body = await _json_body(request)
            if body.get("id", credential_id) != credential_id:
                raise _Fail(400, f"body id {body.get('id')!r} does not match the URL id {credential_id!r}")
            owner = self._owner(body["owner"]) if "owner" in body else (existing.owner if existing else "")
            self._require(principal, owner, writing=True)
            credential = from_request({**body, "id": credential_id})
            info = self.store.put(credential, created_by=principal.username, replace=True, owner=owner)
            return JSONResponse(info.to_json(), status_code=200 if existing else 201)
        except _Fail as exc:
            return _error(exc.status, exc.message, exc.headers)
        except CredentialError as exc:
            return _error(400, str(exc))

    async def _grants(self, request: Request) -> Response:
        """An administrator, or whoever manages the credential's owner, lets one job bind it."""
        credential_id = request.path_params["credential_id"]
        try:
            principal = await self._user(request)
            existing = self.store.info(credential_id)
            if existing is not None:
                self._require(principal, existing.owner, writing=True, hide=True)
            self._found(credential_id, existing)
            if request.method == "DELETE":
                if not self.store.revoke(credential_id, request.path_params["job"]):
                    raise _Fail(404, f"job {request.path_params['job']!r} has no grant of {credential_id!r}")
                return Response(status_code=204)
            job = (await _json_body(request)).get("job")
            if not isinstance(job, str) or not _JOB.match(job):
                raise _Fail(400, 'send {"job": "<job name>"}: the name of the job that may bind it')
            info = self.store.grant(credential_id, job, granted_by=principal.username)
            return JSONResponse(info.to_json())
        except _Fail as exc:
            return _error(exc.status, exc.message, exc.headers)
        except CredentialNotFound as exc:
            return _error(404, str(exc))

    # who may manage what ------------------------------------------------------------------
    async def _user(self, request: Request) -> Principal:
        principal = await principal_of(request, self.auth)
        challenge = {"WWW-Authenticate": 'Basic realm="Dockyard"'}
        if principal is None:
            raise _Fail(401, "invalid username, password or token", challenge)
        if principal.is_anonymous:
            raise _Fail(401, "authentication required (a password or API token)", challenge)
        return principal

    def _owner(self, value: Any) -> str:
        """The canonical owner name ('' for the system); a user or an org, never a project."""
        if value in (None, ""):
            return ""
        namespace = self.auth.namespace(value) if isinstance(value, str) else None
        if namespace is None or namespace.kind not in ("user", "org"):
            raise _Fail(400, f"owner {value!r} is not a user or organization"
                             " (omit it for a system credential)")
        return namespace.name

    def _manages(self, principal: Principal, owner: str) -> bool:
        if not owner:
            return principal.is_admin
        return self.auth.role_in(principal, owner) >= Role.ADMIN

    def _lists(self, principal: Principal, owner: str) -> bool:
        """Whether a listing shows this owner's credentials (managed, and the token may read them)."""
        return self._manages(principal, owner) and principal.allows(_category(principal, owner), False)

    def _require(self, principal: Principal, owner: str, *, writing: bool, hide: bool = False) -> None:
        """403 (or 404 when `hide`: an existing credential of another owner stays unseen)."""
        if not self._manages(principal, owner):
            who = principal.username
            if hide:
                raise _Fail(404, "credential not found")
            if not owner:
                raise _Fail(403, f"user {who!r} is not an administrator: system credentials are admin-only"
                                 f" (pass \"owner\": {who!r} for a credential of your own)")
            raise _Fail(403, f"user {who!r} does not administer {owner!r}, so may not manage its credentials")
        category = _category(principal, owner)
        if not principal.allows(category, writing):  # an API token needs read:/write:<category>
            raise _Fail(403, missing_scope(category, writing))

    @staticmethod
    def _found(credential_id: str, info: CredentialInfo | None) -> CredentialInfo:
        if info is None:
            raise _Fail(404, f"credential {credential_id!r} not found")
        return info


def _category(principal: Principal, owner: str) -> str:
    """The token scope category a credential's owner falls under (Gitea's names)."""
    if not owner:
        return "admin"
    return "user" if owner.lower() == principal.username.lower() else "organization"


async def _json_body(request: Request) -> dict[str, Any]:
    """The credential as a JSON object; only `application/json` (a cross-site form cannot send it)."""
    return await json_object(request)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
