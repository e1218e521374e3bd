"""Gitea's user, token and organisation endpoints over the shared `dockyard.auth` users."""

from __future__ import annotations

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
    paged,
    str_field,
)
from dockyard.git.names import InvalidName, validate_owner
from dockyard.git.payloads import org_json, user_json
from dockyard.git.repos import Org
from dockyard.http import fields as limits

GITEA_API_VERSION = "1.21.0"


# Gitea's CreateOrgOption/EditOrgOption MaxSize tags
_ORG_LIMITS = {"full_name": limits.GITEA_FULL_NAME_MAX, "email": limits.GITEA_EMAIL_MAX,
               "description": limits.GITEA_ORG_DESCRIPTION_MAX, "website": limits.GITEA_ORG_WEBSITE_MAX,
               "location": limits.GITEA_LOCATION_MAX}


class UserApi:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/version", endpoint(self.version), methods=["GET"]),
            Route("/user", endpoint(self.me), methods=["GET"]),
            Route("/users/{username}", endpoint(self.get_user), methods=["GET"]),
            Route("/admin/users", endpoint(self.create_user), methods=["POST"]),
            Route("/admin/users", endpoint(self.list_users), methods=["GET"]),
            Route("/admin/orgs", endpoint(self.list_all_orgs), methods=["GET"]),
            Route("/user/orgs", endpoint(self.my_orgs), methods=["GET"]),
            Route("/users/{username}/orgs", endpoint(self.orgs_of_user), methods=["GET"]),
            Route("/users/{username}/tokens", endpoint(self.create_token), methods=["POST"]),
            Route("/users/{username}/tokens", endpoint(self.list_tokens), methods=["GET"]),
            Route("/users/{username}/tokens/{token}", endpoint(self.delete_token),
                  methods=["DELETE"]),
            Route("/orgs", endpoint(self.create_org), methods=["POST"]),
            Route("/admin/users/{username}/orgs", endpoint(self.create_org_as_admin),
                  methods=["POST"]),
            Route("/orgs/{org}", endpoint(self.get_org), methods=["GET"]),
            Route("/orgs/{org}/members", endpoint(self.list_members), methods=["GET"]),
            Route("/orgs/{org}/members/{username}", endpoint(self.set_member), methods=["PUT"]),
            Route("/orgs/{org}/members/{username}", endpoint(self.remove_member),
                  methods=["DELETE"]),
        ]

    async def version(self, _request: Request) -> Response:
        """Gitea clients (SDKs, Jenkins' Gitea plugin) check the server version; we answer as
        the Gitea release whose API this subset follows, tagged with Dockyard's version."""
        from dockyard import __version__

        return JSONResponse({"version": f"{GITEA_API_VERSION}+dockyard-{__version__}"})

    # users -------------------------------------------------------------------------
    async def me(self, request: Request) -> Response:
        principal = await self.ctx.user(request)
        user = self.ctx.auth.get_user(principal.username)
        if user is None:
            raise ApiError(404, "user does not exist")
        return JSONResponse(user_json(user, self.ctx.base_url))

    async def get_user(self, request: Request) -> Response:
        principal = await self.ctx.principal(request)
        user = self.ctx.auth.get_user(request.path_params["username"])
        if user is None:
            raise ApiError(404, "user does not exist")
        return JSONResponse(user_json(user, self.ctx.base_url, principal))

    async def create_user(self, request: Request) -> Response:
        """`CreateUserOption` (admin only): username, password, email, full_name."""
        principal = await self.ctx.user(request)
        if not principal.is_admin:
            raise ApiError(403, "only administrators may create users")
        body = await json_body(request)
        username = str_field(body, "username", max_len=limits.GITEA_USER_NAME_MAX)
        password = str_field(body, "password", max_len=255)
        if not username or not password:
            raise ApiError(422, "username and password are required")
        try:
            validate_owner(username)
        except InvalidName as exc:
            raise ApiError(422, str(exc)) from exc
        try:
            user = self.ctx.auth.create_user(
                username, password, email=str_field(body, "email", max_len=limits.GITEA_EMAIL_MAX),
                full_name=str_field(body, "full_name", max_len=limits.GITEA_FULL_NAME_MAX),
                is_admin=bool_field(body, "admin"),
            )
        except AuthError as exc:
            raise ApiError(422, str(exc)) from exc
        return JSONResponse(user_json(user, self.ctx.base_url), status_code=201)

    async def list_users(self, request: Request) -> Response:
        """Gitea's admin `GET /admin/users`: every user, paged (`page`, `limit`)."""
        await self._admin(request, "list users")
        users = self.ctx.auth.list_users()
        return paged(request, [user_json(u, self.ctx.base_url) for u in users])

    async def _admin(self, request: Request, what: str) -> Principal:
        principal = await self.ctx.user(request)
        if not principal.is_admin:
            raise ApiError(403, f"only administrators may {what}")
        return principal

    # tokens ------------------------------------------------------------------------
    async def _token_owner(self, request: Request, *, need_password: bool) -> str:
        principal = await self.ctx.user(request)
        username = request.path_params["username"]
        if need_password and principal.via != "password":
            raise ApiError(401, "creating a token needs basic authentication with a password")
        if principal.username.lower() != username.lower() and not principal.is_admin:
            raise ApiError(403, "you may only manage your own tokens")
        user = self.ctx.auth.get_user(username)
        if user is None:
            raise ApiError(404, "user does not exist")
        return user.username

    async def create_token(self, request: Request) -> Response:
        """Gitea's `CreateAccessTokenOption`; `sha1` (the token) is shown only this once."""
        username = await self._token_owner(request, need_password=True)
        body = await json_body(request)
        name = str_field(body, "name")
        scopes = body.get("scopes") or ["all"]
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ApiError(422, "scopes must be a list of strings")
        try:
            token, secret = self.ctx.auth.create_token(username, name, ",".join(scopes))
        except AuthError as exc:
            raise ApiError(422, str(exc)) from exc
        return JSONResponse({"id": token.id, "name": token.name, "sha1": secret,
                             "token_last_eight": token.last_eight,
                             "scopes": token.scopes.split(",")},
                            status_code=201)

    async def list_tokens(self, request: Request) -> Response:
        username = await self._token_owner(request, need_password=False)
        return JSONResponse([
            {"id": t.id, "name": t.name, "sha1": "", "token_last_eight": t.last_eight,
             "scopes": t.scopes.split(",")}
            for t in self.ctx.auth.list_tokens(username)
        ])

    async def delete_token(self, request: Request) -> Response:
        username = await self._token_owner(request, need_password=False)
        if not self.ctx.auth.delete_token(username, request.path_params["token"]):
            raise ApiError(404, "access token does not exist")
        return Response(status_code=204)

    # organisations -----------------------------------------------------------------
    async def create_org(self, request: Request) -> Response:
        """`CreateOrgOption`: username (required), full_name, email, description, visibility."""
        return await self._create_org(request, await self.ctx.user(request))

    async def create_org_as_admin(self, request: Request) -> Response:
        """Gitea's admin `CreateOrg`: an organisation owned by the user in the path."""
        principal = await self.ctx.user(request)
        if not principal.is_admin:
            raise ApiError(403, "only administrators may create organizations for other users")
        owner = self.ctx.auth.get_user(request.path_params["username"])
        if owner is None:
            raise ApiError(404, "user does not exist")
        return await self._create_org(request, self.ctx.acting_as(owner))

    async def _create_org(self, request: Request, principal: Principal) -> Response:
        body = await json_body(request)
        name = str_field(body, "username", max_len=limits.GITEA_USER_NAME_MAX)
        if not name:
            raise ApiError(422, "username (the organization's name) is required")
        fields = {k: str_field(body, k, max_len=_ORG_LIMITS.get(k, 255)) for k in
                  ("full_name", "email", "description", "website", "location", "visibility")}
        org = self.ctx.repos.create_org(principal, name, **fields)
        return JSONResponse(org_json(org, self.ctx.base_url), status_code=201)

    async def get_org(self, request: Request) -> Response:
        principal = await self.ctx.principal(request)
        org = self.ctx.repos.get_org(request.path_params["org"])
        if org is None or (org.visibility == "private"
                           and self.ctx.auth.role_in(principal, org.name) < Role.READ):
            raise ApiError(404, "organization does not exist")
        return JSONResponse(org_json(org, self.ctx.base_url))

    async def list_members(self, request: Request) -> Response:
        principal = await self.ctx.user(request)
        org = self._org(request)
        if self.ctx.auth.role_in(principal, org) < Role.READ:
            raise ApiError(404, "organization does not exist")
        users = []
        for username, _role in self.ctx.auth.members(org):
            user = self.ctx.auth.get_user(username)
            if user is not None:
                users.append(user_json(user, self.ctx.base_url, principal))
        return JSONResponse(users)

    async def set_member(self, request: Request) -> Response:
        """Dockyard's extension (Gitea uses teams): `{"role": "read"|"write"|"admin"}`."""
        principal = await self.ctx.user(request)
        org = self._org(request)
        if self.ctx.auth.role_in(principal, org) < Role.ADMIN:
            raise ApiError(403, f"only owners of {org} may change its members")
        body = await json_body(request)
        try:
            role = Role.parse(str_field(body, "role", "write"))
            self.ctx.auth.grant(org, request.path_params["username"], role)
        except (ValueError, AuthError) as exc:
            raise ApiError(422, str(exc)) from exc
        return Response(status_code=204)

    async def remove_member(self, request: Request) -> Response:
        principal = await self.ctx.user(request)
        org = self._org(request)
        username = request.path_params["username"]
        if self.ctx.auth.role_in(principal, org) < Role.ADMIN and \
                principal.username.lower() != username.lower():
            raise ApiError(403, f"only owners of {org} may remove its members")
        self.ctx.auth.revoke(org, username)
        return Response(status_code=204)

    async def list_all_orgs(self, request: Request) -> Response:
        """Gitea's admin `GET /admin/orgs`: every organisation, paged."""
        await self._admin(request, "list every organization")
        orgs = self.ctx.repos.list_orgs()
        return paged(request, [org_json(o, self.ctx.base_url) for o in orgs])

    async def my_orgs(self, request: Request) -> Response:
        """`GET /user/orgs`: the organisations the caller is a member of."""
        principal = await self.ctx.user(request)
        return paged(request, [org_json(o, self.ctx.base_url)
                                for o in self._orgs_of(principal.username)])

    async def orgs_of_user(self, request: Request) -> Response:
        """`GET /users/{u}/orgs`: u's organisations that the caller may see (Gitea hides
        private ones from non-members)."""
        principal = await self.ctx.principal(request)
        user = self.ctx.auth.get_user(request.path_params["username"])
        if user is None:
            raise ApiError(404, "user does not exist")
        visible = [o for o in self._orgs_of(user.username)
                   if o.visibility == "public"
                   or (o.visibility == "limited" and not principal.is_anonymous)
                   or self.ctx.auth.role_in(principal, o.name) >= Role.READ]
        return paged(request, [org_json(o, self.ctx.base_url) for o in visible])

    def _orgs_of(self, username: str) -> list[Org]:
        wanted = username.lower()
        return [o for o in self.ctx.repos.list_orgs()
                if any(name.lower() == wanted for name, _role in self.ctx.auth.members(o.name))]

    def _org(self, request: Request) -> str:
        org = self.ctx.repos.get_org(request.path_params["org"])
        if org is None:
            raise ApiError(404, "organization does not exist")
        return org.name
