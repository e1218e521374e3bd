"""Repository settings at Gitea's /{owner}/{repo}/settings/hooks: webhooks (list, add, delete),
each hook's delivery log and "Test delivery"; /settings/collaboration: collaborators and their
role (the API's AuthService.grant/revoke on the repository's collaborator namespace). The
repository's admins only, as in the API: others who may read it get 403, the rest 404.
HookStore and GitServer.test_hook do the webhook work."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth import AuthError, Role
from dockyard.git import ApiError, HookError, ProtectionError, Repo, collaborator_namespace
from dockyard.ui.web import PageError, Visitor, Web


class SettingsPages:
    def __init__(self, web: Web, git: Any) -> None:
        self.web = web
        self.git = git
        self.hooks = git.hooks

    async def _admin_repo(self, request: Request, visitor: Visitor) -> Repo:
        owner, name = request.path_params["owner"], request.path_params["repo"]
        repo = await asyncio.to_thread(self.git.repos.get, owner, name)
        role = await asyncio.to_thread(self.git.repos.role, visitor.principal, repo) if repo else Role.NONE
        if repo is None or role < Role.READ:
            raise PageError(404, f"There is no repository {owner}/{name} that you may see.")
        if role < Role.ADMIN:
            raise PageError(403, f"Only administrators of {repo.full_name} change its settings.")
        return repo

    async def _hook(self, request: Request, visitor: Visitor) -> tuple[Repo, Any]:
        repo = await self._admin_repo(request, visitor)
        hook = await asyncio.to_thread(self.hooks.get, repo.id, request.path_params["id"])
        if hook is None:
            raise PageError(404, f"{repo.full_name} has no webhook {request.path_params['id']}.")
        return repo, hook

    async def hooks_page(self, request: Request, visitor: Visitor, status: int = 200,
                         **extra: Any) -> Response:
        repo = await self._admin_repo(request, visitor)
        hooks = await asyncio.to_thread(self.hooks.for_repo, repo.id)
        return self.web.render(request, visitor, "settings_hooks.html", status=status, repo=repo,
                               hooks=hooks, tab="settings", **extra)

    async def add_hook(self, request: Request, visitor: Visitor) -> Response:
        form = await self.web.form(request, visitor)
        repo = await self._admin_repo(request, visitor)
        option = {"type": "gitea", "active": form.get("active") == "on",
                  "branch_filter": form.get("branch_filter", "*") or "*", "events": ["push"],
                  "config": {"url": form.get("url", "").strip(), "secret": form.get("secret", ""),
                             "content_type": form.get("content_type", "json")}}
        try:
            await asyncio.to_thread(self.hooks.create, repo.id, option)
        except HookError as e:
            return await self.hooks_page(request, visitor, status=422, error=str(e))
        return self.web.redirect(request, visitor, f"/{repo.owner}/{repo.name}/settings/hooks")

    async def hook_page(self, request: Request, visitor: Visitor) -> Response:
        repo, hook = await self._hook(request, visitor)
        deliveries = await asyncio.to_thread(self.hooks.deliveries, hook.id)
        return self.web.render(request, visitor, "settings_hook.html", repo=repo, hook=hook,
                               deliveries=deliveries, tab="settings")

    async def test_hook(self, request: Request, visitor: Visitor) -> Response:
        await self.web.form(request, visitor)
        repo, hook = await self._hook(request, visitor)
        try:
            await self.git.test_hook(repo, hook, visitor.principal.username)
        except ApiError as e:
            raise PageError(e.status, e.message) from None
        return self.web.redirect(request, visitor,
                                 f"/{repo.owner}/{repo.name}/settings/hooks/{hook.id}?tested=1")

    async def delete_hook(self, request: Request, visitor: Visitor) -> Response:
        await self.web.form(request, visitor)
        repo, hook = await self._hook(request, visitor)
        await asyncio.to_thread(self.hooks.delete, hook)
        return self.web.redirect(request, visitor, f"/{repo.owner}/{repo.name}/settings/hooks")

    # collaborators ------------------------------------------------------------------------------
    async def collaboration(self, request: Request, visitor: Visitor, status: int = 200,
                            **extra: Any) -> Response:
        repo = await self._admin_repo(request, visitor)
        members = await asyncio.to_thread(self.git.repos.auth.members, collaborator_namespace(repo))
        return self.web.render(request, visitor, "settings_collaboration.html", status=status, repo=repo,
                               members=[(name, role.name.lower()) for name, role in members],
                               tab="settings", **extra)

    async def add_collaborator(self, request: Request, visitor: Visitor) -> Response:
        form = await self.web.form(request, visitor)
        repo = await self._admin_repo(request, visitor)
        auth = self.git.repos.auth
        username = form.get("username", "").strip()
        user = await asyncio.to_thread(auth.get_user, username) if username else None
        if user is None:
            return await self.collaboration(request, visitor, status=422,
                                            error=f"There is no user {username!r}.")
        try:
            role = Role.parse(form.get("permission", "write") or "write")
            await asyncio.to_thread(auth.grant, collaborator_namespace(repo), user.username, role)
        except (ValueError, AuthError) as e:
            return await self.collaboration(request, visitor, status=422, error=str(e))
        return self.web.redirect(request, visitor, f"/{repo.owner}/{repo.name}/settings/collaboration")

    async def remove_collaborator(self, request: Request, visitor: Visitor) -> Response:
        form = await self.web.form(request, visitor)
        repo = await self._admin_repo(request, visitor)
        await asyncio.to_thread(self.git.repos.auth.revoke, collaborator_namespace(repo),
                                form.get("username", ""))
        return self.web.redirect(request, visitor, f"/{repo.owner}/{repo.name}/settings/collaboration")

    # branch protection --------------------------------------------------------------------------
    async def protections(self, request: Request, visitor: Visitor, status: int = 200,
                          **extra: Any) -> Response:
        repo = await self._admin_repo(request, visitor)
        rules = await asyncio.to_thread(self.git.protections.for_repo, repo.id)
        return self.web.render(request, visitor, "settings_branches.html", status=status, repo=repo,
                               rules=rules, tab="settings", **extra)

    async def add_protection(self, request: Request, visitor: Visitor) -> Response:
        """Gitea's CreateBranchProtectionOption from the form: who may push, force pushes."""
        form = await self.web.form(request, visitor)
        repo = await self._admin_repo(request, visitor)
        push = form.get("push", "none")
        users = [u.strip() for u in form.get("users", "").replace(",", " ").split() if u.strip()]
        option = {"rule_name": form.get("rule_name", "").strip(), "enable_push": push in ("all", "listed"),
                  "enable_push_whitelist": push == "listed", "push_whitelist_usernames": users,
                  "enable_force_push": form.get("force") == "on"}
        try:
            await asyncio.to_thread(self.git.protections.create, repo.id, option)
        except ProtectionError as e:
            return await self.protections(request, visitor, status=422, error=str(e))
        return self.web.redirect(request, visitor, f"/{repo.owner}/{repo.name}/settings/branches")

    async def delete_protection(self, request: Request, visitor: Visitor) -> Response:
        form = await self.web.form(request, visitor)
        repo = await self._admin_repo(request, visitor)
        rule = await asyncio.to_thread(self.git.protections.get, repo.id, form.get("rule_name", ""))
        if rule is not None:
            await asyncio.to_thread(self.git.protections.delete, rule)
        return self.web.redirect(request, visitor, f"/{repo.owner}/{repo.name}/settings/branches")
