"""Gitea's repository endpoints: create, read, edit, delete, list, search."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.auth import AuthError, Principal, Role
from dockyard.git.api.common import (
    ApiContext,
    ApiError,
    bool_field,
    endpoint,
    json_body,
    page_params,
    paged,
    str_field,
)
from dockyard.git.repos import Repo, collaborator_namespace
from dockyard.http import fields


class RepoApi:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/user/repos", endpoint(self.create_for_user), methods=["POST"]),
            Route("/user/repos", endpoint(self.list_mine), methods=["GET"]),
            Route("/orgs/{org}/repos", endpoint(self.create_for_org), methods=["POST"]),
            Route("/orgs/{org}/repos", endpoint(self.list_of_owner), methods=["GET"]),
            Route("/users/{org}/repos", endpoint(self.list_of_owner), methods=["GET"]),
            Route("/admin/users/{org}/repos", endpoint(self.create_as_admin), methods=["POST"]),
            Route("/repos/search", endpoint(self.search), methods=["GET"]),
            Route("/repos/{owner}/{repo}", endpoint(self.get), methods=["GET"]),
            Route("/repos/{owner}/{repo}", endpoint(self.edit), methods=["PATCH"]),
            Route("/repos/{owner}/{repo}", endpoint(self.delete), methods=["DELETE"]),
            Route("/repos/{owner}/{repo}/collaborators", endpoint(self.collaborators),
                  methods=["GET"]),
            Route("/repos/{owner}/{repo}/collaborators/{username}",
                  endpoint(self.is_collaborator), methods=["GET"]),
            Route("/repos/{owner}/{repo}/collaborators/{username}",
                  endpoint(self.add_collaborator), methods=["PUT"]),
            Route("/repos/{owner}/{repo}/collaborators/{username}",
                  endpoint(self.remove_collaborator), methods=["DELETE"]),
            Route("/repos/{owner}/{repo}/collaborators/{username}/permission",
                  endpoint(self.collaborator_permission), methods=["GET"]),
        ]

    async def to_json(self, repo: Repo, principal: Principal | None) -> dict[str, Any]:
        role = self.ctx.repos.role(principal, repo) if principal is not None else None
        empty = await self.ctx.repos.bare(repo).is_empty()
        return self.ctx.notifier.repository_json(repo, self.ctx.base_url, empty=empty, role=role)

    # create ------------------------------------------------------------------------
    async def create_for_user(self, request: Request) -> Response:
        principal = await self.ctx.user(request)
        return await self._create(request, principal, principal.username)

    async def create_for_org(self, request: Request) -> Response:
        principal = await self.ctx.user(request)
        org = request.path_params["org"]
        if self.ctx.repos.get_org(org) is None:
            raise ApiError(404, f"organization {org!r} does not exist")
        return await self._create(request, principal, org)

    async def create_as_admin(self, request: Request) -> Response:
        principal = await self.ctx.user(request)
        if not principal.is_admin:
            raise ApiError(403, "only administrators may create repositories for other users")
        return await self._create(request, principal, request.path_params["org"])

    async def _create(self, request: Request, principal: Principal, owner: str) -> Response:
        """`CreateRepoOption`: name, description, private, auto_init, default_branch, readme."""
        body = await json_body(request)
        name = str_field(body, "name", max_len=fields.GITEA_REPO_NAME_MAX)
        if not name:
            raise ApiError(422, "name is required")
        if body.get("template") or body.get("gitignores") or body.get("license"):
            raise ApiError(422, "template, gitignores and license are not supported by Dockyard")
        repo = await self.ctx.repos.create(
            principal,
            owner,
            name,
            description=str_field(body, "description", max_len=fields.GITEA_REPO_DESCRIPTION_MAX),
            private=bool_field(body, "private"),
            default_branch=str_field(body, "default_branch", "main",
                                     max_len=fields.GITEA_BRANCH_NAME_MAX) or "main",
            auto_init=bool_field(body, "auto_init"),
        )
        return JSONResponse(await self.to_json(repo, principal), status_code=201)

    # read --------------------------------------------------------------------------
    async def get(self, request: Request) -> Response:
        repo, principal, _role = await self.ctx.repo(request)
        return JSONResponse(await self.to_json(repo, principal))

    async def list_mine(self, request: Request) -> Response:
        principal = await self.ctx.user(request)
        auth = self.ctx.auth
        me = principal.username.lower()
        # Owned repositories, then those of organisations and collaborations the user is in
        # (for an administrator: every repository).
        repos = [r for r in self.ctx.repos.find()
                 if not (r.private and principal.public_only)
                 and (r.owner.lower() == me
                      or auth.role_in(principal, r.owner) >= Role.READ
                      or auth.role_in(principal, collaborator_namespace(r)) >= Role.READ)]
        return await self._page(request, repos, principal)

    async def list_of_owner(self, request: Request) -> Response:
        principal = await self.ctx.principal(request)
        owner = request.path_params["org"]
        if self.ctx.repos.owner_kind(owner) is None:
            raise ApiError(404, f"user or organization {owner!r} does not exist")
        repos = [r for r in self.ctx.repos.find(owner=owner)
                 if self.ctx.repos.role(principal, r) >= Role.READ]
        return await self._page(request, repos, principal)

    async def search(self, request: Request) -> Response:
        principal = await self.ctx.principal(request)
        query = request.query_params.get("q", "")
        repos = [r for r in self.ctx.repos.find(query=query)
                 if self.ctx.repos.role(principal, r) >= Role.READ]
        page, limit = page_params(request)
        chunk = repos[(page - 1) * limit: page * limit]
        data = [await self.to_json(r, principal) for r in chunk]
        return JSONResponse({"ok": True, "data": data},
                            headers={"X-Total-Count": str(len(repos))})

    async def _page(self, request: Request, repos: list[Repo], principal: Principal) -> Response:
        page, limit = page_params(request)
        chunk = repos[(page - 1) * limit: page * limit]
        data = [await self.to_json(r, principal) for r in chunk]
        return JSONResponse(data, headers={"X-Total-Count": str(len(repos))})

    # edit and delete ------------------------------------------------------------------
    async def edit(self, request: Request) -> Response:
        """`EditRepoOption`: name, description, website, private, default_branch."""
        repo, principal, _ = await self.ctx.repo(request, Role.ADMIN)
        body = await json_body(request)
        branch = fields.optional_text(body, "default_branch", max_len=fields.GITEA_BRANCH_NAME_MAX)
        if branch and not await self.ctx.repos.bare(repo).is_empty() and \
                await self.ctx.repos.bare(repo).resolve(f"refs/heads/{branch}") is None:
            raise ApiError(422, f"default_branch {branch!r} does not exist in {repo.full_name}")
        updated = await self.ctx.repos.update(
            repo,
            name=fields.optional_text(body, "name", max_len=fields.GITEA_REPO_NAME_MAX),
            description=fields.optional_text(body, "description",
                                             max_len=fields.GITEA_REPO_DESCRIPTION_MAX),
            website=fields.optional_text(body, "website", max_len=fields.GITEA_REPO_WEBSITE_MAX),
            private=fields.optional_boolean(body, "private"),
            default_branch=branch,
        )
        return JSONResponse(await self.to_json(updated, principal))

    async def delete(self, request: Request) -> Response:
        repo, _principal, _ = await self.ctx.repo(request, Role.ADMIN)
        await self.ctx.repos.delete(repo)
        return Response(status_code=204)

    # collaborators ---------------------------------------------------------------------
    # Gitea: every collaborator endpoint needs a signed-in caller (reqToken); listing and
    # checking need read on the repository, adding and removing need admin.
    async def collaborators(self, request: Request) -> Response:
        repo, principal = await self._collaborator_repo(request, Role.READ)
        from dockyard.git.payloads import user_json

        users = [self.ctx.auth.get_user(name)
                 for name, _role in self.ctx.auth.members(collaborator_namespace(repo))]
        return paged(request, [user_json(u, self.ctx.base_url, principal)
                               for u in users if u is not None])

    async def is_collaborator(self, request: Request) -> Response:
        """Gitea's check: 204 when the user is a collaborator, 404 when not, 422 no such user."""
        repo, _principal = await self._collaborator_repo(request, Role.READ)
        user = self._existing_user(request)
        members = self.ctx.auth.members(collaborator_namespace(repo))
        if any(name.lower() == user.username.lower() for name, _role in members):
            return Response(status_code=204)
        raise ApiError(404, f"{user.username} is not a collaborator of {repo.full_name}")

    async def collaborator_permission(self, request: Request) -> Response:
        """Gitea's `RepoCollaboratorPermission`: the user's effective access to the repository
        (owner, org, collaborator or public read). Administrators and repository admins may ask
        about anyone, other users only about themselves."""
        repo, principal = await self._collaborator_repo(request, Role.READ)
        user = self._existing_user(request)
        if not (principal.is_admin or principal.username.lower() == user.username.lower()
                or self.ctx.repos.role(principal, repo) >= Role.ADMIN):
            raise ApiError(403, "only administrators and admins of the repository may query "
                                "another user's permission; collaborators only their own")
        name = self.ctx.repos.role(self.ctx.acting_as(user), repo).name.lower()
        from dockyard.git.payloads import user_json

        return JSONResponse({"permission": name, "role_name": name,
                             "user": user_json(user, self.ctx.base_url, principal)})

    async def add_collaborator(self, request: Request) -> Response:
        """Gitea's `AddCollaboratorOption`: `permission` read, write or admin (default write)."""
        repo, _principal = await self._collaborator_repo(request, Role.ADMIN)
        body = await json_body(request)
        user = self._existing_user(request)
        try:
            role = Role.parse(str_field(body, "permission", "write") or "write")
            self.ctx.auth.grant(collaborator_namespace(repo), user.username, role)
        except (ValueError, AuthError) as exc:
            raise ApiError(422, str(exc)) from exc
        return Response(status_code=204)

    async def remove_collaborator(self, request: Request) -> Response:
        repo, _principal = await self._collaborator_repo(request, Role.ADMIN)
        self.ctx.auth.revoke(collaborator_namespace(repo), self._existing_user(request).username)
        return Response(status_code=204)

    async def _collaborator_repo(self, request: Request, need: Role) -> tuple[Repo, Principal]:
        repo, principal, _ = await self.ctx.repo(request, need)
        if principal.is_anonymous:
            raise ApiError(401, "token is required")
        return repo, principal

    def _existing_user(self, request: Request) -> Any:
        user = self.ctx.auth.get_user(request.path_params["username"])
        if user is None:
            raise ApiError(422, f"user {request.path_params['username']!r} does not exist")
        return user
