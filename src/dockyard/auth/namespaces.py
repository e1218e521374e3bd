"""The one namespace of users, organisations and registry projects.

A name (compared case-insensitively) belongs to exactly one of: a user, an org, or a registry
project that is neither (e.g. `library`, or one an administrator created or pushed to first). A
user's or org's registry project lives in the user's or org's namespace and claims nothing more.
Git, the registry and CI all ask here whether a name is free and who owns it; creating a user, an
org or a stand-alone project claims the name in the same table, so two components can never hand
out one name twice.

A stand-alone project may later get its user or org (the tutorial's images may be pushed to
`bootcamp/...` by an administrator before user `bootcamp` exists; Gitea's users and orgs share one
namespace, Harbor's projects stand apart): an administrator creating that user or org adopts the
project into it (`adopt_project=True`), so its owner is then the new user or org. Nobody else can
take a stand-alone project's name: a non-administrator's org of that name is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from dockyard.auth.principal import Principal, Role
from dockyard.store import utcnow

KINDS = ("user", "org", "project")
_WHAT = {"user": "a user", "org": "an organization", "project": "a registry project"}


class NamespaceTaken(ValueError):
    """The name is already used by a user, org or registry project (the message says which)."""

    def __init__(self, name: str, kind: str) -> None:
        super().__init__(f"the name {name!r} is already taken by {_WHAT.get(kind, kind)}: "
                         "users, organizations and registry projects share one namespace")
        self.name, self.kind = name, kind


@dataclass(frozen=True)
class Namespace:
    name: str
    kind: str  # user | org | project


def lookup(conn: Any, name: str) -> Namespace | None:
    row = conn.execute(text("SELECT name, kind FROM auth_namespaces WHERE lower_name = :l"),
                       {"l": name.lower()}).first()
    return Namespace(row.name, row.kind) if row else None


def claim(conn: Any, name: str, kind: str, *, adopt_project: bool = False) -> bool:
    """Take `name` for a new user, org or stand-alone project; NamespaceTaken if it is used.
    With `adopt_project` (an administrator creating a user or org), a stand-alone registry
    project of that name becomes the new user's or org's namespace instead: returns True then."""
    assert kind in KINDS
    existing = lookup(conn, name)
    if existing is not None and adopt_project and existing.kind == "project" and kind != "project":
        conn.execute(text("UPDATE auth_namespaces SET name = :n, kind = :k WHERE lower_name = :l"),
                     {"n": name, "k": kind, "l": name.lower()})
        return True
    if existing is not None:
        raise NamespaceTaken(existing.name, existing.kind)
    try:
        conn.execute(
            text("INSERT INTO auth_namespaces (name, lower_name, kind, created_at)"
                 " VALUES (:n, :l, :k, :c)"),
            {"n": name, "l": name.lower(), "k": kind, "c": utcnow().isoformat()},
        )
    except IntegrityError:  # claimed concurrently: the caller's transaction rolls back
        raise NamespaceTaken(name, kind) from None
    return False


def release(conn: Any, name: str, kind: str) -> None:
    """Free a name when its user, org or stand-alone project is deleted."""
    conn.execute(text("DELETE FROM auth_namespaces WHERE lower_name = :l AND kind = :k"),
                 {"l": name.lower(), "k": kind})


def project_refusal(namespace: Namespace | None, principal: Principal, role: Role, name: str) -> str | None:
    """Why `principal` (holding `role` in `name`) may not create registry project `name`; None if
    they may. Non-administrators create projects only under their own user name or an org they
    administer; a free name or another's project is an administrator's call."""
    if principal.is_anonymous:
        return f"log in to create project {name!r}"
    if principal.is_admin:
        return None
    if namespace is not None and namespace.kind in ("user", "org") and role >= Role.ADMIN:
        return None
    if namespace is None:
        return (f"only administrators may create project {name!r} outside a user or organization: "
                f"use your own name ({principal.username!r}) or an organization you administer")
    owner = "user" if namespace.kind == "user" else "organization"
    if namespace.kind == "project":
        return f"project {namespace.name!r} already exists"
    return (f"{namespace.name!r} is another {owner}'s namespace: {principal.username!r} may create "
            f"projects only under their own name or an organization they administer")
