"""Harbor's project members: `/api/v2.0/projects/{project}/members[/{mid}]`.

A member is a user with one of Harbor's role ids: 1 projectAdmin, 2 developer, 3 guest,
4 maintainer, 5 limitedGuest. The permission itself lives where every other membership lives,
`dockyard.auth`'s memberships (admin / write / read), which `Access.permitted` and the Harbor
API already read, so git, the registry and the API agree on who may do what. The Harbor role
id is kept beside it (`registry_member_roles`) so that a maintainer reads back as one and may
also delete in the registry, as Harbor's maintainers can. A member's id is the user's id.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.auth import Principal, Role, User
from dockyard.http import BadRequest, fields, json_object, small_int
from dockyard.registry.harbor import HarborAPI, HarborError
from dockyard.registry.harbor_members_store import ROLES, MemberRoles
from dockyard.registry.metadata import Project

_DEFAULT_ID = {Role.ADMIN: 1, Role.WRITE: 2, Role.READ: 3}


class MemberAPI:
    def __init__(self, harbor: HarborAPI, roles: MemberRoles) -> None:
        self.harbor = harbor
        self.auth = harbor.auth
        self.roles = roles

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v2.0/projects/{project}/members", self.harbor.endpoint(self._members),
                  methods=["GET", "POST"]),
            Route("/api/v2.0/projects/{project}/members/{mid}", self.harbor.endpoint(self._member),
                  methods=["GET", "PUT", "DELETE"]),
        ]

    async def _members(self, request: Request, principal: Principal) -> Response:
        project = self.harbor._visible_project(principal, request.path_params["project"])
        if request.method == "GET":
            self.harbor._require_role(principal, project, Role.READ)
            wanted = request.query_params.get("entityname", "")
            members = [m for m in self._list(project) if wanted in m["entity_name"]]
            return self.harbor._page(request, members)
        self.harbor._require_role(principal, project, Role.ADMIN)
        body = await json_object(request)
        role_id = _role_id(body)
        if body.get("member_group") is not None:
            raise BadRequest("group members are not supported: add users (member_user)")
        user = self._user(fields.obj(body, "member_user"))
        if self._membership(project, user) is not None:
            raise HarborError(409, "CONFLICT", f"{user.username} is already a member of {project.name}")
        self._set(project, user, role_id)
        return Response(status_code=201,
                        headers={"Location": f"/api/v2.0/projects/{project.id}/members/{user.id}"})

    async def _member(self, request: Request, principal: Principal) -> Response:
        project = self.harbor._visible_project(principal, request.path_params["project"])
        self.harbor._require_role(principal, project, Role.READ if request.method == "GET" else Role.ADMIN)
        user_id = small_int(request.path_params["mid"])
        member = next((m for m in self._list(project) if m["id"] == user_id), None)
        if member is None or user_id is None:
            raise HarborError(404, "NOT_FOUND",
                              f"member {request.path_params['mid']} of {project.name} not found")
        if request.method == "GET":
            return JSONResponse(member)
        if user_id == project.owner_id:
            raise HarborError(403, "FORBIDDEN", f"{member['entity_name']} owns {project.name}: the owner"
                              " stays its project admin")
        user = next(u for u in self.auth.list_users() if u.id == user_id)
        if request.method == "PUT":
            self._set(project, user, _role_id(await json_object(request)))
        else:
            self.auth.revoke(project.name, user.username)
            self.roles.set(project.name, user.id, None)
        return Response(status_code=200)

    # plumbing -----------------------------------------------------------------------------------
    def _set(self, project: Project, user: User, role_id: int) -> None:
        self.auth.grant(project.name, user.username, ROLES[role_id][1])
        self.roles.set(project.name, user.id, role_id)

    def _user(self, member_user: dict[str, Any]) -> User:
        """Harbor's UserEntity: `username` or `user_id`."""
        username = fields.optional_text(member_user, "username", max_len=fields.GITEA_USER_NAME_MAX)
        user_id = fields.integer(member_user, "user_id")
        users = self.auth.list_users()
        if username:
            user = next((u for u in users if u.username.lower() == username.lower()), None)
        elif user_id is not None:
            user = next((u for u in users if u.id == user_id), None)
        else:
            raise BadRequest("member_user needs a username or a user_id")
        if user is None:
            raise HarborError(404, "NOT_FOUND", f"user {username or user_id} not found")
        return user

    def _membership(self, project: Project, user: User) -> Role | None:
        return next((role for name, role in self.auth.members(project.name) if name == user.username), None)

    def _list(self, project: Project) -> list[dict[str, Any]]:
        """The project's members as Harbor's ProjectMemberEntity; its owner as projectAdmin."""
        users = {u.username: u for u in self.auth.list_users()}
        members = [(users[name], role) for name, role in self.auth.members(project.name) if name in users]
        owner = next((u for u in users.values() if u.id == project.owner_id), None)
        if owner is not None and all(u.id != owner.id for u, _ in members):
            members.insert(0, (owner, Role.ADMIN))
        entries = []
        for user, role in members:
            role_id = self.roles.get(project.name, user.id) if user.id != project.owner_id else 1
            if role_id not in ROLES or ROLES[role_id][1] != role:
                role_id = _DEFAULT_ID.get(role, 3)
            entries.append({"id": user.id, "project_id": project.id, "entity_name": user.username,
                            "role_name": ROLES[role_id][0], "role_id": role_id, "entity_id": user.id,
                            "entity_type": "u"})
        return entries


def _role_id(body: dict[str, Any]) -> int:
    role_id = fields.integer(body, "role_id")
    if role_id is None or role_id not in ROLES:
        raise BadRequest(f"role_id must be one of {', '.join(f'{i} ({n})' for i, (n, _) in ROLES.items())},"
                         f" not {role_id}")
    return role_id
