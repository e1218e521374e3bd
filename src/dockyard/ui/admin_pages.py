"""Administration pages under Gitea's /-/admin: system information (version, disk, queue and
executors), users (list, create, disable/enable, make/remove administrator), credentials
(ids, kinds, owners and grants - never values).
Only administrators see them; others get the same 404 as for a page that does not exist."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dockyard import __version__
from dockyard.auth import AuthError, AuthService
from dockyard.ui.web import PageError, Visitor, Web

# form action -> (AuthService method, value, what the page says was done)
USER_ACTIONS: dict[str, tuple[str, bool, str]] = {
    "disable": ("set_disabled", True, "is disabled: their password, tokens and sessions no longer work"),
    "enable": ("set_disabled", False, "is enabled again"),
    "make_admin": ("set_admin", True, "is an administrator"),
    "remove_admin": ("set_admin", False, "is no longer an administrator"),
}


class AdminPages:
    def __init__(self, web: Web, auth: AuthService, ci: Any, credentials: Any, data_dir: Any,
                 registry: Any = None) -> None:
        self.registry = registry
        self.web = web
        self.auth = auth
        self.ci = ci
        self.credentials = credentials
        self.data_dir = data_dir

    @staticmethod
    def require_admin(visitor: Visitor) -> None:
        if not visitor.principal.is_admin:
            raise PageError(404, "There is no such page.")

    async def system(self, request: Request, visitor: Visitor) -> Response:
        self.require_admin(visitor)

        facts = await asyncio.to_thread(self._facts)
        return self.web.render(request, visitor, "admin_system.html", tab="system", **facts)

    def _facts(self) -> dict[str, Any]:
        disk = shutil.disk_usage(self.data_dir)
        return {"version": __version__, "data_dir": str(self.data_dir), "disk": disk,
                "queued": self.ci.store.queued(), "running": self.ci.store.running(),
                "executors": self.ci.scheduler.limit, "users": len(self.auth.list_users())}

    async def gc_dry_run(self, request: Request, visitor: Visitor) -> Response:
        """The registry's garbage collection, dry: what a `dockyard registry gc` would delete."""
        self.require_admin(visitor)
        await self.web.form(request, visitor)
        from dockyard.registry import collect_garbage

        report = await asyncio.to_thread(collect_garbage, self.registry.store, self.registry.metadata,
                                         dry_run=True)
        facts = await asyncio.to_thread(self._facts)
        return self.web.render(request, visitor, "admin_system.html", tab="system", gc=report.summary(),
                               **facts)

    async def users(self, request: Request, visitor: Visitor, status: int = 200, **extra: Any) -> Response:
        self.require_admin(visitor)
        users = await asyncio.to_thread(self.auth.list_users)
        return self.web.render(request, visitor, "admin_users.html", status=status, tab="users", users=users,
                               **extra)

    async def create_user(self, request: Request, visitor: Visitor) -> Response:
        self.require_admin(visitor)
        form = await self.web.form(request, visitor)
        try:
            user = await asyncio.to_thread(
                self.auth.create_user, form.get("username", "").strip(), form.get("password", ""),
                email=form.get("email", "").strip()[:255], is_admin=form.get("is_admin") == "on")
        except AuthError as e:
            return await self.users(request, visitor, status=422, error=str(e))
        return await self.users(request, visitor, created=user.username)

    async def edit_user(self, request: Request, visitor: Visitor) -> Response:
        """Disable / enable a user, make them an administrator or a plain user again (one form
        per button). The last enabled administrator stays one (AuthService refuses), and nobody
        disables themself: another administrator does."""
        self.require_admin(visitor)
        form = await self.web.form(request, visitor)
        username, action = form.get("username", ""), form.get("action", "")
        change = USER_ACTIONS.get(action)
        if change is None:
            return await self.users(request, visitor, status=422,
                                    error=f"Unknown change {action!r}: choose one of the buttons.")
        if action == "disable" and username.lower() == visitor.principal.username.lower():
            return await self.users(request, visitor, status=422,
                                    error="You cannot disable yourself: another administrator can.")
        method, value, done = change
        try:
            user = await asyncio.to_thread(getattr(self.auth, method), username, value)
        except AuthError as e:
            return await self.users(request, visitor, status=422, error=str(e))
        if action == "disable":
            await asyncio.to_thread(self.web.sessions.close_user, user.id)
        return await self.users(request, visitor, changed=f"{user.username} {done}.")

    async def credentials_page(self, request: Request, visitor: Visitor) -> Response:
        self.require_admin(visitor)
        infos = await asyncio.to_thread(self.credentials.list) if self.credentials is not None else []
        return self.web.render(request, visitor, "admin_credentials.html", tab="credentials", infos=infos)
