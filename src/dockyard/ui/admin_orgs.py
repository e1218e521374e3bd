"""Administration of organisations under /-/admin/orgs: the list (with a form to create one)
and an organisation's members (add with a role, change the role, remove). The same calls as the
Gitea API (RepoService.create_org, AuthService.grant / revoke / members); administrators only,
like the other /-/admin pages. An organisation keeps at least one owner (admin role)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth import AuthError, AuthService, Role
from dockyard.git import RepoError
from dockyard.ui.admin_pages import AdminPages
from dockyard.ui.web import PageError, Visitor, Web

ROLES = ("read", "write", "admin")


class OrgAdminPages:
    def __init__(self, web: Web, auth: AuthService, git: Any) -> None:
        self.web = web
        self.auth = auth
        self.repos = git.repos

    async def orgs(self, request: Request, visitor: Visitor, status: int = 200, **extra: Any) -> Response:
        AdminPages.require_admin(visitor)

        def load() -> list[tuple[Any, int]]:
            return [(o, len(self.auth.members(o.name))) for o in self.repos.list_orgs()]

        rows = await asyncio.to_thread(load)
        return self.web.render(request, visitor, "admin_orgs.html", status=status, tab="orgs", rows=rows,
                               **extra)

    async def create_org(self, request: Request, visitor: Visitor) -> Response:
        """A new organisation; the administrator who creates it is its first owner."""
        AdminPages.require_admin(visitor)
        form = await self.web.form(request, visitor)
        try:
            org = await asyncio.to_thread(
                self.repos.create_org, visitor.principal, form.get("name", "").strip(),
                full_name=form.get("full_name", "").strip()[:255],
                visibility=form.get("visibility", "public"))
        except RepoError as e:
            return await self.orgs(request, visitor, status=422, error=str(e))
        return self.web.redirect(request, visitor, f"/-/admin/orgs/{org.name}")

    async def org(self, request: Request, visitor: Visitor, status: int = 200, **extra: Any) -> Response:
        AdminPages.require_admin(visitor)
        org = await self._org(request)
        members = await asyncio.to_thread(self.auth.members, org.name)
        return self.web.render(request, visitor, "admin_org.html", status=status, tab="orgs", org=org,
                               members=[(name, role.name.lower()) for name, role in members], roles=ROLES,
                               **extra)

    async def set_member(self, request: Request, visitor: Visitor) -> Response:
        """Add a member with a role, or change a member's role."""
        AdminPages.require_admin(visitor)
        org = await self._org(request)
        form = await self.web.form(request, visitor)
        username = form.get("username", "").strip()
        try:
            role = Role.parse(form.get("role", "write"))
            if role < Role.READ:
                raise ValueError("choose read, write or admin")
            if role < Role.ADMIN:
                await asyncio.to_thread(self._keep_an_owner, org.name, username)
            await asyncio.to_thread(self.auth.grant, org.name, username, role)
        except (ValueError, AuthError) as e:
            return await self.org(request, visitor, status=422, error=str(e))
        return await self.org(request, visitor, changed=f"{username} is a member ({role.name.lower()}).")

    async def remove_member(self, request: Request, visitor: Visitor) -> Response:
        AdminPages.require_admin(visitor)
        org = await self._org(request)
        form = await self.web.form(request, visitor)
        username = form.get("username", "")
        try:
            await asyncio.to_thread(self._keep_an_owner, org.name, username)
        except AuthError as e:
            return await self.org(request, visitor, status=422, error=str(e))
        await asyncio.to_thread(self.auth.revoke, org.name, username)
        return await self.org(request, visitor, changed=f"{username} is no longer a member.")

    def _keep_an_owner(self, org: str, username: str) -> None:
        """Refuse to take the owner role from the organisation's only owner."""
        owners = [name.lower() for name, role in self.auth.members(org) if role >= Role.ADMIN]
        if owners == [username.lower()]:
            raise AuthError(f"{username} is the only owner of {org}: make another member an owner first")

    async def _org(self, request: Request) -> Any:
        org = await asyncio.to_thread(self.repos.get_org, request.path_params["org"])
        if org is None:
            raise PageError(404, f"There is no organisation {request.path_params['org']!r}.")
        return org
