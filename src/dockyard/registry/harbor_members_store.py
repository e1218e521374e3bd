"""Harbor role ids of project members (see dockyard.registry.harbor_members): the membership
role in `dockyard.auth` carries the permission; this keeps which Harbor role it was."""

from __future__ import annotations

from sqlalchemy import text

from dockyard.auth import Role
from dockyard.store import Database

# Harbor's role ids -> (role_name, the membership role that carries the permission)
ROLES: dict[int, tuple[str, Role]] = {
    1: ("projectAdmin", Role.ADMIN),
    2: ("developer", Role.WRITE),
    3: ("guest", Role.READ),
    4: ("maintainer", Role.WRITE),
    5: ("limitedGuest", Role.READ),
}
MAINTAINER = 4


class MemberRoles:
    """The Harbor role id of each membership made through this API (maintainer vs developer,
    limitedGuest vs guest); memberships made elsewhere read as their plain role's id."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, namespace: str, user_id: int) -> int | None:
        row = self.db.row("SELECT role_id FROM registry_member_roles WHERE namespace = :n AND user_id = :u",
                          n=namespace, u=user_id)
        return int(row.role_id) if row else None

    def set(self, namespace: str, user_id: int, role_id: int | None) -> None:
        with self.db.transaction() as conn:
            conn.execute(text("DELETE FROM registry_member_roles WHERE namespace = :n AND user_id = :u"),
                         {"n": namespace, "u": user_id})
            if role_id is not None:
                conn.execute(text("INSERT INTO registry_member_roles (namespace, user_id, role_id)"
                                  " VALUES (:n, :u, :r)"), {"n": namespace, "u": user_id, "r": role_id})

    def is_maintainer(self, namespace: str, user_id: int | None) -> bool:
        return user_id is not None and self.get(namespace, user_id) == MAINTAINER
