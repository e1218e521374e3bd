"""Harbor's robot account API: `/api/v2.0/robots` (system and project level, Harbor 2.x) and
`/api/v2.0/projects/{project}/robots` (the project's own robots).

Shapes follow Harbor's swagger as harborapi models them (`RobotCreate`, `RobotCreated`, `Robot`,
`RobotSec`). System robots are made by system administrators, project robots by the project's
administrators; the secret is answered once, at creation or refresh. The robots then log in to
the registry, where `Access.permitted` (the check users go through) grants exactly their grants.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.auth import Principal, Role
from dockyard.http import BadRequest, fields, json_object, small_int
from dockyard.registry.harbor import HarborAPI, HarborError
from dockyard.registry.harbor_robots_store import (
    ACTIONS,
    EVERY_PROJECT,
    NAME_MAX,
    NAME_RE,
    RESOURCES,
    ROBOT_PREFIX,
    Robot,
    RobotNameTaken,
    RobotStore,
    new_secret,
    valid_secret,
)
from dockyard.registry.metadata import Project

MAX_PERMISSIONS = 100
MAX_ACCESS = 100
MAX_DURATION_DAYS = 36_500
DESCRIPTION_MAX = 1024
_DAY = 86_400


@dataclass(frozen=True)
class Permission:
    """One entry of a request's `permissions`: a project (or "*") and its (resource, action)s."""

    namespace: str
    access: tuple[tuple[str, str], ...]


class RobotAPI:
    def __init__(self, harbor: HarborAPI, robots: RobotStore) -> None:
        self.harbor = harbor
        self.robots = robots

    def routes(self) -> list[BaseRoute]:
        one = ["GET", "PUT", "PATCH", "DELETE"]
        return [
            Route("/api/v2.0/robots", self.harbor.endpoint(self._robots), methods=["GET", "POST"]),
            Route("/api/v2.0/robots/{robot_id}", self.harbor.endpoint(self._robot), methods=one),
            Route("/api/v2.0/projects/{project}/robots", self.harbor.endpoint(self._project_robots),
                  methods=["GET", "POST"]),
            Route("/api/v2.0/projects/{project}/robots/{robot_id}", self.harbor.endpoint(self._robot),
                  methods=one),
        ]

    # collections --------------------------------------------------------------------------------
    async def _robots(self, request: Request, principal: Principal) -> Response:
        if request.method == "POST":
            body = await json_object(request)
            return self._create(principal, body, project=None)
        level, project_id, name = _query(request.query_params.get("q", ""))
        robots = [r for r in self.robots.all() if self._may_manage(principal, r)]
        if level:
            robots = [r for r in robots if r.level == level]
        if project_id is not None:
            robots = [r for r in robots if r.project_id == project_id]
        if name:
            robots = [r for r in robots if name in r.name]
        return self.harbor._page(request, [self._json(r) for r in robots])

    async def _project_robots(self, request: Request, principal: Principal) -> Response:
        project = self.harbor._visible_project(principal, request.path_params["project"])
        self.harbor._require_role(principal, project, Role.ADMIN)
        if request.method == "POST":
            return self._create(principal, await json_object(request), project=project)
        robots = [r for r in self.robots.all() if r.project_id == project.id]
        return self.harbor._page(request, [self._json(r) for r in robots])

    def _create(self, principal: Principal, body: dict[str, Any], project: Project | None) -> Response:
        """POST /robots (RobotCreate), or POST /projects/{p}/robots (RobotCreate or Harbor's v1
        RobotCreateV1 with `access: [{resource: /project/<id>/repository, action}]`)."""
        if principal.is_anonymous:
            raise HarborError(401, "UNAUTHORIZED", "log in to create a robot account")
        name = fields.text(body, "name", max_len=NAME_MAX, required=True)
        if not NAME_RE.match(name):
            raise BadRequest(f"invalid robot name {name!r}: lowercase letters and digits, separated by"
                             " one '.', '_' or '-' (the robot$ prefix and project are added by the server)")
        description = fields.text(body, "description", max_len=DESCRIPTION_MAX)
        disabled = fields.boolean(body, "disable")
        secret = fields.optional_text(body, "secret", max_len=128)
        if secret is not None and not valid_secret(secret):
            raise BadRequest("the secret must be 8-128 characters with a lowercase letter, an uppercase"
                             " letter and a digit; leave it out to get a generated one")
        now = int(time.time())
        if project is not None and "permissions" not in body and "access" in body:
            level = "project"
            permissions = [_v1_permission(project, fields.array(body, "access"))]
            expires = fields.integer(body, "expires_at", default=-1)
            if expires is None or expires <= 0:
                duration, expires_at = -1, -1
            else:
                duration = -(-(expires - now) // _DAY)
                _check_duration(duration)
                expires_at = expires
        else:
            level = fields.text(body, "level", max_len=16, default="project" if project else "")
            if level not in ("system", "project") or (project is not None and level != "project"):
                raise BadRequest("level must be 'system' or 'project' ('project' under /projects/{p}/robots)")
            permissions = _permissions(fields.array(body, "permissions"))
            duration = _duration(body)
            expires_at = -1 if duration == -1 else now + duration * _DAY
        access, owner = self._resolve(principal, level, permissions, project)
        full = f"{ROBOT_PREFIX}{name}" if owner is None else f"{ROBOT_PREFIX}{owner.name}+{name}"
        if len(full) > NAME_MAX:
            raise BadRequest(f"the robot's full name {full!r} is longer than {NAME_MAX} characters")
        secret = secret or new_secret()
        try:
            robot = self.robots.create(
                name=full, level=level, project_id=owner.id if owner else None, description=description,
                duration=duration, expires_at=expires_at, disabled=disabled, creator_id=principal.user_id,
                access=access, secret=secret)
        except RobotNameTaken as exc:
            raise HarborError(409, "CONFLICT", str(exc)) from None
        return JSONResponse(
            {"id": robot.id, "name": robot.name, "secret": secret, "creation_time": robot.created_at,
             "expires_at": robot.expires_at},
            status_code=201, headers={"Location": f"/api/v2.0/robots/{robot.id}"})

    def _resolve(self, principal: Principal, level: str, permissions: list[Permission],
                 project: Project | None) -> tuple[list[tuple[int | None, str, str]], Project | None]:
        """The grants as (project id, resource, action), after checking that the caller may give
        them: a system robot is an administrator's, a project robot its project admin's, with
        exactly one permission, on that project. Also the project a project robot belongs to."""
        if level == "system":
            if not principal.is_admin:
                raise HarborError(403, "FORBIDDEN", "only system administrators create or change"
                                  " system robot accounts; project admins use level 'project'")
            access: list[tuple[int | None, str, str]] = []
            for permission in permissions:
                target = None if permission.namespace == EVERY_PROJECT else \
                    self.harbor._visible_project(principal, permission.namespace).id
                access += [(target, r, a) for r, a in permission.access]
            return access, None
        if len(permissions) != 1 or permissions[0].namespace == EVERY_PROJECT:
            raise BadRequest("a project robot has exactly one permission, of kind 'project', whose"
                             " namespace is its project")
        owner = self.harbor._visible_project(principal, permissions[0].namespace)
        if project is not None and owner.id != project.id:
            raise BadRequest(f"the permission's namespace {permissions[0].namespace!r} is not this"
                             f" project ({project.name})")
        self.harbor._require_role(principal, owner, Role.ADMIN)
        return [(owner.id, r, a) for r, a in permissions[0].access], owner

    # one robot -------------------------------------------------------------------------------
    async def _robot(self, request: Request, principal: Principal) -> Response:
        robot_id = small_int(request.path_params["robot_id"])
        robot = self.robots.get(robot_id) if robot_id is not None else None
        if robot is None:
            raise HarborError(404, "NOT_FOUND", f"robot account {request.path_params['robot_id']} not found")
        if "project" in request.path_params:  # /projects/{p}/robots/{id}: that project's robots only
            project = self.harbor._visible_project(principal, request.path_params["project"])
            if robot.project_id != project.id:
                raise HarborError(404, "NOT_FOUND", f"robot account {robot.id} not found in {project.name}")
        self._require_manage(principal, robot)
        method = request.method
        if method == "GET":
            return JSONResponse(self._json(robot))
        if method == "DELETE":
            self.robots.delete(robot.id)
            return Response(status_code=200)
        body = await json_object(request, optional=True)
        if method == "PATCH":
            chosen = fields.optional_text(body, "secret", max_len=128)
            if chosen and not valid_secret(chosen):
                raise BadRequest("the secret must be 8-128 characters with a lowercase letter, an"
                                 " uppercase letter and a digit; send none to get a generated one")
            secret = chosen or new_secret()
            self.robots.set_secret(robot.id, secret)
            # Harbor answers a generated secret, once; one the caller chose is not echoed
            return JSONResponse({} if chosen else {"secret": secret})
        return self._update(principal, robot, body)

    def _update(self, principal: Principal, robot: Robot, body: dict[str, Any]) -> Response:
        """PUT /robots/{id} (Harbor's `Robot`): description, duration, disable and permissions;
        the name and level stay what they are."""
        name = fields.optional_text(body, "name", max_len=NAME_MAX)
        short = robot.name.split("+", 1)[-1].removeprefix(ROBOT_PREFIX)
        if name is not None and name not in (robot.name, short):
            raise BadRequest(f"the name of robot account {robot.name} cannot change")
        level = fields.optional_text(body, "level", max_len=16)
        if level is not None and level != robot.level:
            raise BadRequest(f"the level of robot account {robot.name} cannot change ({robot.level})")
        access = None
        if body.get("permissions") is not None:
            permissions = _permissions(fields.array(body, "permissions"))
            access, _ = self._resolve(principal, robot.level, permissions, self._project_of(robot))
        duration = expires_at = None
        if body.get("duration") is not None:
            duration = _duration(body)
            created = _unix(robot.created_at)
            expires_at = -1 if duration == -1 else created + duration * _DAY
        description = fields.optional_text(body, "description", max_len=DESCRIPTION_MAX)
        self.robots.update(robot.id, description=description, duration=duration, expires_at=expires_at,
                           disabled=fields.optional_boolean(body, "disable"), access=access)
        return Response(status_code=200)

    # who may ---------------------------------------------------------------------------------
    def _may_manage(self, principal: Principal, robot: Robot) -> bool:
        if principal.is_admin:
            return True
        project = self._project_of(robot)
        return project is not None and self.harbor._role(principal, project) >= Role.ADMIN

    def _require_manage(self, principal: Principal, robot: Robot) -> None:
        """System robots: administrators only (403); project robots: the project's admins, 404 to
        those who cannot see the project, 403 to its other members (as projects answer)."""
        if principal.is_admin:
            return
        project = self._project_of(robot)
        if project is None:
            raise HarborError(403, "FORBIDDEN", f"robot account {robot.id} is a system robot: only"
                              " system administrators manage it")
        project = self.harbor._visible_project(principal, project.name)
        self.harbor._require_role(principal, project, Role.ADMIN)

    def _project_of(self, robot: Robot) -> Project | None:
        if robot.project_id is None:
            return None
        return next((p for p in self.harbor.metadata.list_projects() if p.id == robot.project_id), None)

    # shapes -------------------------------------------------------------------------------------
    def _json(self, robot: Robot) -> dict[str, Any]:
        """Harbor's `Robot`, without the secret."""
        by_namespace: dict[str, list[dict[str, str]]] = {}
        for grant in robot.access:
            by_namespace.setdefault(grant.project, []).append(
                {"resource": grant.resource, "action": grant.action, "effect": "allow"})
        return {
            "id": robot.id,
            "name": robot.name,
            "description": robot.description,
            "level": robot.level,
            "duration": robot.duration,
            "editable": True,
            "disable": robot.disabled,
            "expires_at": robot.expires_at,
            "permissions": [{"kind": "project", "namespace": ns, "access": access}
                            for ns, access in by_namespace.items()],
            "creator_type": "local",
            "creator_ref": robot.creator_id or 0,
            "creation_time": robot.created_at,
            "update_time": robot.updated_at,
        }


def _objects(raw: list[Any], what: str, limit: int, shape: str) -> list[dict[str, Any]]:
    """A non-empty list of at most `limit` JSON objects, or a 400 naming `what` went wrong."""
    if not raw:
        raise BadRequest(f"{what} must not be empty: [{shape}, ...]")
    if len(raw) > limit:
        raise BadRequest(f"{len(raw)} {what}; the limit is {limit}")
    if not all(isinstance(entry, dict) for entry in raw):
        raise BadRequest(f"each of the {what} must be an object {shape}")
    return raw


def _permissions(raw: list[Any]) -> list[Permission]:
    """RobotCreate's `permissions`, checked field by field (400 naming the problem)."""
    permissions = []
    for entry in _objects(raw, "permissions", MAX_PERMISSIONS, "{kind: project, namespace, access}"):
        kind = fields.text(entry, "kind", max_len=16, required=True)
        if kind != "project":
            raise BadRequest(f"permission kind {kind!r} is not supported: use 'project'")
        namespace = fields.text(entry, "namespace", max_len=NAME_MAX, required=True)
        permissions.append(Permission(namespace, _access(fields.array(entry, "access"))))
    return permissions


def _access(raw: list[Any]) -> tuple[tuple[str, str], ...]:
    access = []
    for entry in _objects(raw, "access entries", MAX_ACCESS, "{resource: repository, action: pull}"):
        resource = fields.text(entry, "resource", max_len=64, required=True)
        action = fields.text(entry, "action", max_len=32, required=True)
        effect = fields.text(entry, "effect", max_len=16, default="allow")
        if resource not in RESOURCES:
            raise BadRequest(f"unknown resource {resource!r}: use one of {', '.join(sorted(RESOURCES))}")
        if action not in ACTIONS:
            raise BadRequest(f"unknown action {action!r}: use one of {', '.join(sorted(ACTIONS))}")
        if effect != "allow":
            raise BadRequest(f"effect {effect!r} is not supported: robots hold 'allow' grants only")
        access.append((resource, action))
    return tuple(access)


def _v1_permission(project: Project, raw: list[Any]) -> Permission:
    """Harbor v1's `access: [{resource: "/project/<id>/repository", action: "push"}]`."""
    converted = []
    for entry in _objects(raw, "access entries", MAX_ACCESS, "{resource: /project/<id>/repository, action}"):
        resource = fields.text(entry, "resource", max_len=300, required=True)
        parts = resource.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "project" or parts[1] not in (str(project.id), project.name):
            raise BadRequest(f"access resource {resource!r} must be /project/{project.id}/<resource>")
        converted.append({"resource": parts[2], "action": entry.get("action"), "effect": entry.get("effect")})
    return Permission(project.name, _access(converted))


def _duration(body: dict[str, Any]) -> int:
    duration = fields.integer(body, "duration", default=-1)
    assert duration is not None
    _check_duration(duration)
    return duration


def _check_duration(duration: int) -> None:
    if duration != -1 and not 1 <= duration <= MAX_DURATION_DAYS:
        raise BadRequest(f"duration must be -1 (never expires) or 1-{MAX_DURATION_DAYS} days, not {duration}")


def _unix(iso: str) -> int:
    import datetime as dt

    return int(dt.datetime.fromisoformat(iso).timestamp())


def _query(q: str) -> tuple[str, int | None, str]:
    """Harbor's `q=Level=project,ProjectID=3,name=~ci` for robots: (level, project id, name part)."""
    level, project_id, name = "", None, ""
    for term in q.split(",")[:10]:
        key, _, value = term.partition("=")
        key = key.strip().lower().replace("_", "")
        value = value.strip().removeprefix("~")
        if key == "level":
            level = value
        elif key == "projectid":
            project_id = small_int(value)
            if project_id is None:
                raise BadRequest(f"ProjectID must be a number, not {value!r}")
        elif key == "name":
            name = value
    return level, project_id, name
