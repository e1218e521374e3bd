"""Who may pull, push or delete in which repository, and the token service docker clients use.

Clients authenticate three ways: no credentials (anonymous pull of public projects), Basic
(password or API token, checked by `dockyard.auth`; or a Harbor robot account's `robot$...`
name and secret, checked by `RobotStore`), or a Bearer JWT from `/service/token` whose `access`
claim lists the granted actions per repository, as distribution's token auth specifies. Users
and robots meet in one permission check, `Access.permitted`.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.auth import (
    ANONYMOUS,
    AuthHeader,
    AuthService,
    JWTError,
    Principal,
    Role,
    TokenSigner,
    parse_authorization,
)
from dockyard.registry.errors import RegistryError
from dockyard.registry.harbor_immutable_store import ImmutableRules
from dockyard.registry.harbor_members_store import MemberRoles
from dockyard.registry.harbor_retention_store import Retention
from dockyard.registry.harbor_robots_store import EVERY_PROJECT, ROBOT_PREFIX, Robot, RobotStore
from dockyard.registry.metadata import Project, RegistryMetadata
from dockyard.registry.names import project_of

SERVICE = "dockyard-registry"
TOKEN_TTL_SECONDS = 300
REFRESH_TTL_SECONDS = 30 * 24 * 3600
ALL_ACTIONS = ("pull", "push", "delete")


@dataclass
class Caller:
    """The authenticated principal, plus the grants of a bearer token when it used one."""

    principal: Principal
    bearer_grants: dict[str, set[str]] | None = None
    token_id: str | None = None  # a hash of that bearer token, never the token itself


class ScopeRefusals:
    """Which tokens were already told they lack a scope (bounded, forgotten after a token's life).

    A valid token lacking a scope its user holds first gets distribution's answer, 401 with an
    `insufficient_scope` challenge naming the scope: docker, containerd, podman, skopeo and Go
    clients fetch a token for it. A client that sends the same token again for the same scope
    (oras-py reuses its token after a 401 and only asks for a new one after a 403) then gets
    RFC 6750's 403 with the same challenge, within `ttl` seconds of the first. Every issued
    token carries a unique `jti`, so a fresh token is never taken for a refused one. One
    process's memory: behind several replicas the second answer may be a 401 again.
    """

    def __init__(self, ttl: float = 60.0, limit: int = 4096) -> None:
        self._seen: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._ttl = ttl
        self._limit = limit
        self._lock = threading.Lock()

    def repeated(self, token_id: str, repository: str, scope: str) -> bool:
        """True if this token was refused `scope` before; records it otherwise."""
        key = (token_id, repository, scope)
        now = time.monotonic()
        with self._lock:
            told = self._seen.pop(key, None)
            self._seen[key] = now
            while len(self._seen) > self._limit:
                self._seen.popitem(last=False)
        return told is not None and now - told < self._ttl


class Access:
    def __init__(self, auth: AuthService, signer: TokenSigner, metadata: RegistryMetadata) -> None:
        self.auth = auth
        self.signer = signer
        self.metadata = metadata
        self.robots = RobotStore(metadata.db)
        self.member_roles = MemberRoles(metadata.db)
        self.immutable = ImmutableRules(metadata)
        self.retention = Retention(metadata, self.immutable)
        self.refusals = ScopeRefusals()

    def authenticate(self, creds: AuthHeader | None) -> Principal | None:
        """`AuthService.authenticate`, plus Harbor robot accounts (basic `robot$...` logins,
        a name no user can hold). Slow (scrypt): call it off the event loop."""
        if creds is not None and creds.scheme == "basic" and creds.username.startswith(ROBOT_PREFIX):
            robot = self.robots.authenticate(creds.username, creds.secret)
            return robot_principal(robot) if robot else None
        return self.auth.authenticate(creds)

    # who is calling ---------------------------------------------------------------------
    def identify(self, authorization: str | None) -> Caller | None:
        """The caller behind an Authorization header; None when the credentials are wrong."""
        creds = parse_authorization(authorization)
        if creds is not None and creds.scheme == "bearer":
            try:
                claims = self.signer.verify(creds.secret)
            except JWTError:
                # Not one of our JWTs: maybe an API token sent as a bearer.
                principal = self.auth.authenticate(creds)
                return Caller(principal) if principal else None
            if claims.get("typ") != "access":
                return None
            robot: Robot | None = None
            if "rob" in claims:  # a robot's token stops with the robot, at once
                robot = self.robots.live(claims.get("rob"), claims.get("org"))
                if robot is None:
                    return None
            grants: dict[str, set[str]] = {}
            for entry in claims.get("access", []):
                if entry.get("type") == "repository":
                    grants.setdefault(entry.get("name", ""), set()).update(entry.get("actions", []))
            scopes = claims.get("scp")
            if robot is not None:
                principal = robot_principal(robot)
            elif claims.get("uid"):
                principal = Principal(claims.get("uid"), claims.get("sub", ""), bool(claims.get("adm")),
                                      "bearer", frozenset(scopes) if isinstance(scopes, list) else None)
            else:
                principal = ANONYMOUS
            token_id = hashlib.sha256(creds.secret.encode()).hexdigest()[:32]
            return Caller(principal, grants, token_id)
        principal = self.authenticate(creds)
        return Caller(principal) if principal else None

    # what they may do -----------------------------------------------------------------------
    def permitted(self, principal: Principal, repository: str) -> set[str]:
        """The actions `principal` may take on `repository`, from projects and memberships,
        within the scopes of the API token it used (`read:package`, `write:package`)."""
        actions = self._by_role(principal, repository)
        if principal.scopes is None:
            return actions
        if not principal.allows("package", write=True):
            actions -= {"push", "delete"}
        if not principal.allows("package", write=False):
            actions.discard("pull")
        if principal.public_only:
            project = self.metadata.get_project(project_of(repository))
            if project is None or not project.public:
                actions = set()
        return actions

    def _by_role(self, principal: Principal, repository: str) -> set[str]:
        project = self.metadata.get_project(project_of(repository))
        if project is None and principal.grants is not None:
            return set()  # robots act in existing projects only, never create one
        if project is None:
            # Pushing to a new project creates it: administrators anywhere free, users under
            # their own name or an org they administer (dockyard.auth's one namespace decides).
            refusal = self.auth.project_refusal(principal, project_of(repository))
            return set(ALL_ACTIONS) if refusal is None else set()
        actions: set[str] = set()
        if project.public:
            actions.add("pull")
        if principal.grants is not None:  # a robot: what it was granted there, nothing else
            return actions | {a for p, a in principal.grants if p in (project.name, EVERY_PROJECT)}
        role = self.auth.role_in(principal, project.name)
        if principal.user_id is not None and project.owner_id == principal.user_id:
            role = Role.ADMIN
        if role >= Role.READ:
            actions.add("pull")
        if role >= Role.WRITE:
            actions.add("push")
        if role == Role.WRITE and self.member_roles.is_maintainer(project.name, principal.user_id):
            actions.add("delete")  # Harbor's maintainers delete artifacts (harbor_members)
        if role >= Role.ADMIN:
            actions.add("delete")
        return actions

    def allowed(self, caller: Caller, repository: str, action: str) -> bool:
        if caller.bearer_grants is not None:
            return action in caller.bearer_grants.get(repository, set())
        return action in self.permitted(caller.principal, repository)

    def require(self, caller: Caller, repository: str, actions: Iterable[str], realm: str) -> None:
        """Raise UNAUTHORIZED (with the challenge that starts the token flow) or DENIED."""
        actions = list(actions)
        missing = [a for a in actions if not self.allowed(caller, repository, a)]
        if not missing:
            return
        # An authenticated user who could never do it gets DENIED; anyone who might succeed
        # with (other) credentials or a wider token gets the challenge.
        if not caller.principal.is_anonymous:
            live = self.permitted(caller.principal, repository)
            if any(a not in live for a in missing):
                raise RegistryError(
                    "DENIED",
                    f"requested access to the resource is denied: {caller.principal.username!r}"
                    f" may not {'/'.join(missing)} {repository!r}",
                )
        scope = f"repository:{repository}:{','.join(sorted(set(actions)))}"
        detail = [{"Type": "repository", "Name": repository, "Action": a} for a in missing]
        if caller.token_id is not None and not caller.principal.is_anonymous:
            # A valid token of a user who may do it, issued for a narrower scope
            # (ScopeRefusals says why the second refusal is a 403).
            challenge = {"WWW-Authenticate": self.challenge(realm, scope, "insufficient_scope")}
            message = (f"the token does not grant {'/'.join(missing)} on {repository!r}: ask the"
                       f" token service for scope {scope}")
            if self.refusals.repeated(caller.token_id, repository, scope):
                raise RegistryError("DENIED", message, detail, headers=challenge)
            raise RegistryError("UNAUTHORIZED", message, detail, headers=challenge)
        raise RegistryError(
            "UNAUTHORIZED",
            "authentication required",
            detail,
            headers={"WWW-Authenticate": self.challenge(realm, scope)},
        )

    def challenge(self, realm: str, scope: str | None = None, error: str | None = None) -> str:
        value = f'Bearer realm="{realm}",service="{SERVICE}"'
        if scope:
            value += f',scope="{scope}"'
        if error:
            value += f',error="{error}"'
        return value

    # the token service ----------------------------------------------------------------------
    def issue(self, principal: Principal, scopes: Iterable[str], *, offline: bool) -> dict:
        """Grant the requested scopes intersected with what the principal may do."""
        access = []
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            kind, name, wanted = parsed
            if kind == "repository":
                permitted = self.permitted(principal, name)
                if "*" in wanted:
                    wanted = set(ALL_ACTIONS)
                granted = sorted(wanted & permitted)
                access.append({"type": "repository", "name": name, "actions": granted})
            elif kind == "registry" and name == "catalog":
                granted = ["*"] if not principal.is_anonymous \
                    and principal.allows("package", write=False) else []
                access.append({"type": "registry", "name": "catalog", "actions": granted})
        claims: dict[str, object] = {
            "typ": "access",
            "sub": principal.username,
            "uid": principal.user_id,
            "adm": principal.is_admin,
            "aud": SERVICE,
            "access": access,
            # unique per issue, so a client's new token is never taken for one refused before
            # (ScopeRefusals) even when the claims and the second are the same
            "jti": secrets.token_hex(12),
        }
        if principal.scopes is not None:  # checks made later against the user (a mount's
            claims["scp"] = sorted(principal.scopes)  # source) keep the API token's limits
        robot_id = robot_id_of(principal)
        if robot_id is not None:  # checked again on every use (RobotStore.live)
            claims.update(rob=robot_id, org=principal.origin)
        token = self.signer.sign(claims, TOKEN_TTL_SECONDS)
        body = {
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_TTL_SECONDS,
        }
        if offline and not principal.is_anonymous:
            # `org` names the password (epoch) or API token it came from: changing the password
            # or deleting the token revokes it (AuthService.origin_valid)
            refresh: dict[str, object] = {"typ": "refresh", "sub": principal.username,
                                          "uid": principal.user_id, "org": principal.origin}
            if principal.scopes is not None:  # a refresh never widens the token it came from
                refresh["scp"] = sorted(principal.scopes)
            if robot_id is not None:
                refresh["rob"] = robot_id
            body["refresh_token"] = self.signer.sign(refresh, REFRESH_TTL_SECONDS)
        return body

    def principal_from_refresh(self, refresh_token: str) -> Principal | None:
        try:
            claims = self.signer.verify(refresh_token)
        except JWTError:
            return None
        if claims.get("typ") != "refresh":
            return None
        if "rob" in claims:  # disabled, expired, deleted or a new secret: refused
            robot = self.robots.live(claims.get("rob"), claims.get("org"))
            return robot_principal(robot) if robot else None
        user = self.auth.get_user(claims.get("sub", ""))
        if user is None or user.id != claims.get("uid"):
            return None
        origin = str(claims.get("org") or "")
        if not self.auth.origin_valid(user.id, origin):
            return None  # its API token was deleted or the password changed since
        scopes = claims.get("scp")
        return Principal(user.id, user.username, user.is_admin, "refresh",
                         frozenset(scopes) if isinstance(scopes, list) else None, origin=origin)


def robot_principal(robot: Robot) -> Principal:
    """A robot as the principal the one permission check (`Access.permitted`) reads: no user,
    the registry actions of its grants, and the `package` scope only, so that nothing outside
    the registry would let it in even if it were handed one."""
    return Principal(None, robot.name, False, "robot", frozenset({"write:package"}),
                     origin=robot.origin, grants=robot.registry_grants())


def robot_id_of(principal: Principal) -> int | None:
    """The robot id a robot principal's origin (`robot:<id>:<epoch>`) names; None for users."""
    if principal.grants is None:
        return None
    kind, _, rest = principal.origin.partition(":")
    number = rest.partition(":")[0]
    return int(number) if kind == "robot" and number.isascii() and number.isdigit() else None


def create_project(
    auth: AuthService, metadata: RegistryMetadata, name: str, *, public: bool, owner_id: int | None
) -> Project:
    """A new registry project (Harbor's POST or a first push; the caller checked
    `auth.project_refusal`): a name no user or org holds is claimed as a stand-alone project,
    so no org or user can be created under it later. Raises NamespaceTaken on a lost race."""
    if auth.namespace(name) is None:
        auth.claim_namespace(name, "project")
    return metadata.create_project(name, public=public, owner_id=owner_id)


def parse_scope(scope: str) -> tuple[str, str, set[str]] | None:
    """`repository:a/b:pull,push` -> ("repository", "a/b", {"pull", "push"})."""
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not name:
        return None
    return kind, name, {a for a in actions.split(",") if a}


def realm_for(base_url: str) -> str:
    return base_url.rstrip("/") + "/service/token"
