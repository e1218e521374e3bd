"""The web UI: server-rendered pages on the components' own services and permission checks.

Public surface: `WebUI(services, git=, ci=, registry=)` with `.routes()` (mount after the APIs'
fixed paths and before git's smart-HTTP patterns), and `MIGRATIONS` (browser sessions).
Pages accept only the session cookie (never Basic auth); every form carries a CSRF token.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from dockyard.ui.account import Account
from dockyard.ui.home import Components, Home
from dockyard.ui.migrations import MIGRATIONS
from dockyard.ui.sessions import LoginLimiter, SessionStore
from dockyard.ui.web import STATIC, Web

__all__ = ["MIGRATIONS", "WebUI"]


class WebUI:
    def __init__(self, services: Any, *, git: Any, ci: Any, registry: Any,
                 limiter: LoginLimiter | None = None) -> None:
        self.sessions = SessionStore(services.db)
        self.web = Web(self.sessions, lambda: services.settings.base_url)
        self.parts = Components(git, ci, registry)
        self.account = Account(self.web, services.auth, self.sessions, limiter)
        self.home = Home(self.web, self.parts)

    def routes(self) -> list[BaseRoute]:
        page = self.web.page
        return [
            Route("/", page(self.home.home), methods=["GET", "HEAD"]),
            Route("/user/login", page(self.account.login_form), methods=["GET"]),
            Route("/user/login", page(self.account.login), methods=["POST"]),
            Route("/user/logout", page(self.account.logout, signed_in=True), methods=["POST"]),
            Mount("/assets", app=StaticFiles(directory=STATIC), name="assets"),
        ]
