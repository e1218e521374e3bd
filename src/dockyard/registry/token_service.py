"""`/service/token`: the endpoint docker, podman and skopeo call after a 401 challenge."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dockyard.auth import ANONYMOUS, AuthHeader, parse_authorization
from dockyard.http import form_body
from dockyard.registry.access import Access


def token_endpoint(access: Access):  # noqa: ANN201 - returns a Starlette endpoint
    async def endpoint(request: Request) -> Response:
        if request.method == "POST":
            # OAuth2 password/refresh grants arrive urlencoded; parsed here without python-multipart.
            form = await form_body(request)
            grant = form.get("grant_type")
            scopes = [str(s) for s in str(form.get("scope") or "").split(" ") if s]
            if grant == "refresh_token":
                principal = access.principal_from_refresh(str(form.get("refresh_token") or ""))
            elif grant == "password":  # users and robot accounts (scrypt: off the loop)
                principal = await run_in_threadpool(
                    access.authenticate,
                    AuthHeader("basic", str(form.get("password") or ""), str(form.get("username") or "")),
                )
            else:
                return _error(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")
            if principal is None:
                return _error(401, "invalid_grant", "invalid username, password or refresh token")
            body = access.issue(principal, scopes, offline=grant == "password")
            return JSONResponse(body)
        creds = parse_authorization(request.headers.get("authorization"))
        principal = await run_in_threadpool(access.authenticate, creds) if creds else ANONYMOUS
        if principal is None:
            return _error(401, "UNAUTHORIZED", "invalid username, password or token")
        scopes = request.query_params.getlist("scope")
        offline = request.query_params.get("offline_token") == "true"
        return JSONResponse(access.issue(principal, scopes, offline=offline))

    return endpoint


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse(
        {"errors": [{"code": code, "message": message}], "error": code, "error_description": message},
        status_code=status,
    )
