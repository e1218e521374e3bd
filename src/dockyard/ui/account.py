"""Sign-in and sign-out. A password (never an API token) opens a session; failed attempts
are rate-limited per user name and per client address."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth import AuthError, AuthHeader, AuthService
from dockyard.ui.sessions import SESSION_TTL, LoginLimiter, SessionStore
from dockyard.ui.web import CSRF_COOKIE, SESSION_COOKIE, Visitor, Web, local_path

# the token scope categories the form offers (dockyard.auth.scopes has Gitea's full list)
SCOPE_CATEGORIES = ("repository", "package", "user", "organization", "issue", "admin")


class Account:
    def __init__(self, web: Web, auth: AuthService, sessions: SessionStore,
                 limiter: LoginLimiter | None = None) -> None:
        self.web = web
        self.auth = auth
        self.sessions = sessions
        self.limiter = limiter or LoginLimiter()

    async def login_form(self, request: Request, visitor: Visitor) -> Response:
        target = local_path(request.query_params.get("redirect_to"))
        if visitor.signed_in:
            return self.web.redirect(request, visitor, target)
        return self.web.render(request, visitor, "login.html", redirect_to=target, username="")

    async def login(self, request: Request, visitor: Visitor) -> Response:
        form = await self.web.form(request, visitor)
        username = form.get("username", "").strip()[:64]
        password = form.get("password", "")
        target = local_path(form.get("redirect_to"))
        address = request.client.host if request.client else "-"

        def again(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
            response = self.web.render(request, visitor, "login.html", status=status, error=message,
                                       redirect_to=target, username=username)
            response.headers.update(headers or {})
            return response

        wait = self.limiter.retry_after(username, address)
        if wait:
            return again(429, f"Too many failed sign-ins: try again in {wait} seconds.",
                         {"Retry-After": str(wait)})
        principal = None
        if username and password:
            principal = await asyncio.to_thread(self.auth.authenticate,
                                                AuthHeader("basic", password, username))
        if principal is None or principal.via != "password":  # API tokens do not open sessions
            self.limiter.failed(username, address)
            return again(401, "Wrong user name or password.")
        self.limiter.succeeded(username)
        session_id = await asyncio.to_thread(self.sessions.open, principal)
        response = self.web.redirect(request, visitor, target)
        response.set_cookie(SESSION_COOKIE, session_id, max_age=int(SESSION_TTL), httponly=True,
                            samesite="lax", path="/", secure=self.web.secure(request))
        response.delete_cookie(CSRF_COOKIE, path="/")
        return response

    async def logout(self, request: Request, visitor: Visitor) -> Response:
        await self.web.form(request, visitor)
        await asyncio.to_thread(self.sessions.close, visitor.session_id)
        response = self.web.redirect(request, visitor, "/")
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
        return response


class Tokens:
    """Personal access tokens in the browser (Gitea's /user/settings/applications): create with
    scopes, the secret shown once in the answer to the POST, revoke. AuthService does the work,
    as for the API's /api/v1/users/{name}/tokens."""

    def __init__(self, web: Web, auth: AuthService) -> None:
        self.web = web
        self.auth = auth

    async def page(self, request: Request, visitor: Visitor, status: int = 200,
                   **extra: object) -> Response:
        tokens = await asyncio.to_thread(self.auth.list_tokens, visitor.principal.username)
        return self.web.render(request, visitor, "tokens.html", status=status, tokens=tokens,
                               categories=SCOPE_CATEGORIES, **extra)

    async def show(self, request: Request, visitor: Visitor) -> Response:
        return await self.page(request, visitor)

    async def create(self, request: Request, visitor: Visitor) -> Response:
        form = await self.web.form(request, visitor)
        scopes = [f"{form[f'scope.{c}']}:{c}" for c in SCOPE_CATEGORIES
                  if form.get(f"scope.{c}") in ("read", "write")]
        if form.get("public_only") == "on":
            scopes.append("public-only")
        try:
            token, secret = await asyncio.to_thread(
                self.auth.create_token, visitor.principal.username, form.get("name", "").strip()[:255],
                ",".join(scopes) or "all")
        except AuthError as e:
            return await self.page(request, visitor, status=422, error=str(e))
        return await self.page(request, visitor, created=token, secret=secret)

    async def revoke(self, request: Request, visitor: Visitor) -> Response:
        form = await self.web.form(request, visitor)
        token_id = form.get("id", "")
        if not token_id.isdigit():
            return await self.page(request, visitor, status=422, error="Choose a token to revoke.")
        await asyncio.to_thread(self.auth.delete_token, visitor.principal.username, token_id)
        return self.web.redirect(request, visitor, "/user/settings/applications")
