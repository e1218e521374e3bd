"""Harbor robot accounts in the database: records, grants, and checking their secrets.

A robot (`robot$<name>` at system level, `robot$<project>+<name>` at project level) is a login
with no user behind it: it holds exactly the (project, resource, action) grants it was created
with. Its secret is stored as a scrypt hash and shown once; `secret_epoch` counts refreshes so a
registry token derived from an old secret stops with it. A disabled, expired or deleted robot
fails its next request: every check reads the row again (`RobotStore.live`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from dockyard.auth import hash_password, verify_password
from dockyard.store import Database, insert_row, update_row, utcnow

ROBOT_PREFIX = "robot$"
NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
NAME_MAX = 255
EVERY_PROJECT = "*"
# Harbor's rbac resources and actions (src/common/rbac/const.go); only some reach the registry.
RESOURCES = frozenset({
    "repository", "artifact", "tag", "artifact-label", "artifact-addition", "scan", "sbom",
    "helm-chart", "helm-chart-version", "label", "metadata", "immutable-tag", "tag-retention",
    "robot", "member", "log", "notification-policy", "quota", "accessory", "project",
    "preheat-policy", "scanner", "configuration", "export-cve", "replication",
})
ACTIONS = frozenset({"*", "pull", "push", "delete", "create", "read", "update", "list", "stop",
                     "operate", "scanner-pull"})
_REGISTRY_ACTIONS = {
    ("repository", "pull"): {"pull"},
    ("repository", "push"): {"push"},
    ("repository", "delete"): {"delete"},
    ("repository", "*"): {"pull", "push", "delete"},
    ("artifact", "delete"): {"delete"},
}


def registry_actions(resource: str, action: str) -> set[str]:
    """The registry actions (pull, push, delete) one Harbor grant carries."""
    return set(_REGISTRY_ACTIONS.get((resource, action), ()))


def valid_secret(secret: str) -> bool:
    """Harbor's rule for a secret the user chooses: 8-128 characters with a lowercase letter,
    an uppercase letter and a digit."""
    return (8 <= len(secret) <= 128 and any(c.islower() for c in secret)
            and any(c.isupper() for c in secret) and any(c.isdigit() for c in secret))


def new_secret() -> str:
    """32 random letters and digits (Harbor's generated secrets look the same)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        secret = "".join(secrets.choice(alphabet) for _ in range(32))
        if valid_secret(secret):
            return secret


@dataclass(frozen=True)
class Grant:
    project_id: int | None  # None: every project
    project: str  # its name, "*" for every project
    resource: str
    action: str


@dataclass(frozen=True)
class Robot:
    id: int
    name: str  # the full login name, robot$...
    level: str  # "system" or "project"
    project_id: int | None
    description: str
    secret_epoch: int
    duration: int  # days, -1 never expires
    expires_at: int  # unix seconds, -1 never
    disabled: bool
    creator_id: int | None
    created_at: str
    updated_at: str
    access: tuple[Grant, ...]

    @property
    def origin(self) -> str:
        """What a registry token derived from this robot's secret names (see RobotStore.live)."""
        return f"robot:{self.id}:{self.secret_epoch}"

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at != -1 and self.expires_at <= (time.time() if now is None else now)

    def registry_grants(self) -> frozenset[tuple[str, str]]:
        """(project name or "*", pull/push/delete) pairs: what `Principal.grants` holds."""
        return frozenset((g.project, a) for g in self.access for a in registry_actions(g.resource, g.action))


class RobotNameTaken(Exception):
    """A robot with this full name exists already."""


class RobotStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        # scrypt costs ~150 ms: a (robot, secret, stored hash) seen valid is remembered; the row is
        # read on every check anyway, so a new secret, disabling or deleting acts at once.
        self._verified: dict[str, str] = {}
        self._lock = threading.Lock()

    # records -------------------------------------------------------------------------------
    def create(self, *, name: str, level: str, project_id: int | None, description: str,
               duration: int, expires_at: int, disabled: bool, creator_id: int | None,
               access: Iterable[tuple[int | None, str, str]], secret: str) -> Robot:
        now = utcnow().isoformat()
        with self.db.transaction() as conn:
            if conn.execute(text("SELECT 1 FROM registry_robots WHERE name = :n"), {"n": name}).first():
                raise RobotNameTaken(f"a robot account named {name} exists already")
            robot_id = insert_row(conn, "registry_robots", {
                "name": name, "level": level, "project_id": project_id, "description": description,
                "secret_hash": hash_password(secret), "secret_epoch": 0, "duration": duration,
                "expires_at": expires_at, "disabled": disabled, "creator_id": creator_id,
                "created_at": now, "updated_at": now,
            })
            _write_access(conn, robot_id, access)
        robot = self.get(robot_id)
        assert robot is not None
        return robot

    def get(self, robot_id: int) -> Robot | None:
        rows = self._load("WHERE r.id = :i", i=robot_id)
        return rows[0] if rows else None

    def by_name(self, name: str) -> Robot | None:
        rows = self._load("WHERE r.name = :n", n=name)
        return rows[0] if rows else None

    def all(self) -> list[Robot]:
        return self._load("")

    def update(self, robot_id: int, *, description: str | None = None, duration: int | None = None,
               expires_at: int | None = None, disabled: bool | None = None,
               access: Iterable[tuple[int | None, str, str]] | None = None) -> Robot | None:
        values: dict[str, Any] = {k: v for k, v in (("description", description), ("duration", duration),
                                                     ("expires_at", expires_at), ("disabled", disabled))
                                  if v is not None}
        values["updated_at"] = utcnow().isoformat()
        with self.db.transaction() as conn:
            if not update_row(conn, "registry_robots", {"id": robot_id}, values):
                return None
            if access is not None:
                conn.execute(text("DELETE FROM registry_robot_access WHERE robot_id = :i"), {"i": robot_id})
                _write_access(conn, robot_id, access)
        return self.get(robot_id)

    def delete(self, robot_id: int) -> bool:
        with self.db.transaction() as conn:
            return bool(conn.execute(text("DELETE FROM registry_robots WHERE id = :i"),
                                     {"i": robot_id}).rowcount)

    def set_secret(self, robot_id: int, secret: str) -> bool:
        """A new secret; tokens derived from the old one stop (the epoch moves on)."""
        with self.db.transaction() as conn:
            changed = conn.execute(
                text("UPDATE registry_robots SET secret_hash = :h, secret_epoch = secret_epoch + 1,"
                     " updated_at = :u WHERE id = :i"),
                {"h": hash_password(secret), "u": utcnow().isoformat(), "i": robot_id}).rowcount
        return bool(changed)

    # authentication ----------------------------------------------------------------------------
    def authenticate(self, name: str, secret: str) -> Robot | None:
        """The robot when `secret` is its current one and it is enabled and unexpired."""
        row = self.db.row("SELECT id, secret_hash FROM registry_robots WHERE name = :n", n=name)
        if row is None:
            return None
        key = hashlib.sha256(f"{row.id}\0{secret}".encode()).hexdigest()
        with self._lock:
            known = self._verified.get(key) == row.secret_hash
        if not known:
            if not verify_password(secret, row.secret_hash):
                return None
            with self._lock:
                if len(self._verified) > 10_000:
                    self._verified.clear()
                self._verified[key] = row.secret_hash
        robot = self.get(row.id)
        return robot if robot is not None and not robot.disabled and not robot.expired() else None

    def live(self, robot_id: object, origin: object) -> Robot | None:
        """The robot behind a registry token that names it, if that token still stands: the
        robot exists, is enabled and unexpired, and its secret was not refreshed since."""
        if not isinstance(robot_id, int) or isinstance(robot_id, bool):
            return None
        robot = self.get(robot_id)
        if robot is None or robot.disabled or robot.expired() or origin != robot.origin:
            return None
        return robot

    def _load(self, where: str, **params: Any) -> list[Robot]:
        with self.db.read() as conn:
            rows = conn.execute(text(f"SELECT r.* FROM registry_robots r {where} ORDER BY r.id"),
                                params).all()
            grants: dict[int, list[Grant]] = {}
            if rows:
                ids = ",".join(str(int(r.id)) for r in rows)
                for g in conn.execute(text(
                        "SELECT a.robot_id, a.project_id, p.name AS project, a.resource, a.action"
                        " FROM registry_robot_access a LEFT JOIN registry_projects p ON p.id = a.project_id"
                        f" WHERE a.robot_id IN ({ids}) ORDER BY a.project_id, a.resource, a.action")).all():
                    grants.setdefault(g.robot_id, []).append(
                        Grant(g.project_id, g.project or EVERY_PROJECT, g.resource, g.action))
        return [Robot(r.id, r.name, r.level, r.project_id, r.description, int(r.secret_epoch),
                      int(r.duration), int(r.expires_at), bool(r.disabled), r.creator_id, r.created_at,
                      r.updated_at, tuple(grants.get(r.id, ()))) for r in rows]


def _write_access(conn: Connection, robot_id: int, access: Iterable[tuple[int | None, str, str]]) -> None:
    for project_id, resource, action in sorted(set(access), key=lambda a: (a[0] or 0, a[1], a[2])):
        conn.execute(text("INSERT INTO registry_robot_access (robot_id, project_id, resource, action)"
                          " VALUES (:r, :p, :res, :a)"),
                     {"r": robot_id, "p": project_id, "res": resource, "a": action})
