"""What every page shares: who is visiting (from the session cookie only, never an
Authorization header), form tokens, rendering with the base layout, and security headers."""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dockyard import __version__
from dockyard.auth import ANONYMOUS, Principal
from dockyard.http import BadRequest, form_body, small_int
from dockyard.ui.sessions import SessionStore

SESSION_COOKIE = "dockyard_session"
CSRF_COOKIE = "dockyard_csrf"  # form token of visitors without a session (the sign-in form)
CSRF_FIELD = "csrf_token"
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self';"
        " object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class PageError(Exception):
    """A page that cannot be shown; rendered as an error page with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Visitor:
    principal: Principal
    csrf: str
    session_id: str | None = None
    new_csrf_cookie: bool = False
    flashes: list[str] = field(default_factory=list)

    @property
    def signed_in(self) -> bool:
        return not self.principal.is_anonymous


MAX_PAGE = 999_999  # deeper pages would only ask git and SQL for huge offsets


def page_number(request: Request, name: str = "page") -> int:
    """The 1-based page a listing asks for in `?{name}=`. Anything but ASCII digits 1..MAX_PAGE
    (`²`, `-1`, empty, 25 digits) means page 1: a hostile number is a first page, never a 500."""
    value = small_int(request.query_params.get(name, ""))
    return value if value is not None and 1 <= value <= MAX_PAGE else 1


def local_path(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this server (a safe place to go after sign-in)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _duration(ms: int | float | None) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _when(epoch: float | str | None) -> str:
    """Absolute UTC time, scannable and copyable (relative times hide in hover titles)."""
    if epoch is None or epoch == "":
        return "-"
    if isinstance(epoch, str):
        return epoch.replace("T", " ")[:19] + " UTC"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


class Web:
    def __init__(self, sessions: SessionStore, base_url: Callable[[], str]) -> None:
        self.sessions = sessions
        self.base_url = base_url
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
        self.env.filters.update(duration=_duration, when=_when, size=_size,
                                urlquote=lambda s: quote(str(s), safe=""))
        self.env.globals.update(version=__version__, csrf_field=CSRF_FIELD)

    async def visitor(self, request: Request) -> Visitor:
        session_id = request.cookies.get(SESSION_COOKIE)
        session = await asyncio.to_thread(self.sessions.lookup, session_id) if session_id else None
        if session is not None:
            return Visitor(session.principal, session.csrf, session_id)
        token = request.cookies.get(CSRF_COOKIE, "")
        if len(token) < 32 or len(token) > 100:
            return Visitor(ANONYMOUS, secrets.token_urlsafe(32), new_csrf_cookie=True)
        return Visitor(ANONYMOUS, token)

    async def form(self, request: Request, visitor: Visitor) -> dict[str, str]:
        """The posted form, refused (403) unless it carries the visitor's form token."""
        form = await form_body(request)
        given = form.get(CSRF_FIELD, "")
        if visitor.new_csrf_cookie or not given or not hmac.compare_digest(given, visitor.csrf):
            raise PageError(403, "The form was refused: its security token is missing or out of date."
                                 " Reload the page and submit the form again.")
        return form

    def secure(self, request: Request) -> bool:
        return request.url.scheme == "https" or self.base_url().startswith("https://")

    def finish(self, request: Request, visitor: Visitor, response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        if visitor.new_csrf_cookie:
            response.set_cookie(CSRF_COOKIE, visitor.csrf, httponly=True, samesite="lax", path="/",
                                secure=self.secure(request))
        return response

    def render(self, request: Request, visitor: Visitor, template: str, status: int = 200,
               **context: Any) -> Response:
        html = self.env.get_template(template).render(
            request=request, visitor=visitor, user=visitor.principal, csrf=visitor.csrf, **context)
        return self.finish(request, visitor, HTMLResponse(html, status_code=status))

    def redirect(self, request: Request, visitor: Visitor, to: str) -> Response:
        return self.finish(request, visitor, RedirectResponse(to, status_code=303))

    def login_redirect(self, request: Request, visitor: Visitor) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return self.redirect(request, visitor, "/user/login?redirect_to=" + quote(target, safe=""))

    def page(self, handler: Callable[[Request, Visitor], Awaitable[Response]], *, signed_in: bool = False
             ) -> Callable[[Request], Awaitable[Response]]:
        """An endpoint: finds the visitor, sends anonymous visitors of `signed_in` pages to the
        sign-in form, and renders PageError/BadRequest as error pages (never a stack trace)."""

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            response = await respond(request)
            # the server's own time for the page (session, queries, rendering), which browsers'
            # devtools and bench/ui.py read; a streamed body's time is not in it
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
            return response

        async def respond(request: Request) -> Response:
            visitor = await self.visitor(request)
            if signed_in and not visitor.signed_in:
                if request.method == "GET":
                    return self.login_redirect(request, visitor)
                return self.error(request, visitor, 403, "Sign in first.")
            try:
                return await handler(request, visitor)
            except PageError as e:
                return self.error(request, visitor, e.status, e.message)
            except BadRequest as e:
                return self.error(request, visitor, e.status, str(e))

        return endpoint

    def error(self, request: Request, visitor: Visitor, status: int, message: str) -> Response:
        return self.render(request, visitor, "error.html", status=status, status_code=status, message=message)
