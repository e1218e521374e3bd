"""Who is making a request, and the roles a user can hold in a namespace."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Role(IntEnum):
    """Ordered so that `role >= Role.WRITE` reads naturally (Harbor guest/developer/maintainer)."""

    NONE = 0
    READ = 1
    WRITE = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown role {name!r}: use read, write or admin") from None


@dataclass(frozen=True)
class Principal:
    """An authenticated user (or anonymous). `via` says how: password, token, bearer, anonymous."""

    user_id: int | None
    username: str
    is_admin: bool = False
    via: str = "anonymous"
    scopes: frozenset[str] | None = None  # an API token's scopes; None: unrestricted
    # what the credential was, for tokens derived from it (registry refresh tokens):
    # "token:<api token id>" or "password:<password epoch>"; see AuthService.origin_valid
    origin: str = ""
    # a registry robot account (no user behind it): exactly these (project, action) pairs, the
    # project "*" meaning every project; None for users. See dockyard.registry.harbor_robots.
    grants: frozenset[tuple[str, str]] | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None and self.grants is None

    @property
    def is_robot(self) -> bool:
        return self.grants is not None

    def allows(self, category: str, write: bool) -> bool:
        """Whether the credential used may act on `category` (see dockyard.auth.scopes)."""
        from dockyard.auth.scopes import allows

        return allows(self.scopes, category, write)

    @property
    def public_only(self) -> bool:
        from dockyard.auth.scopes import public_only

        return public_only(self.scopes)


ANONYMOUS = Principal(user_id=None, username="", is_admin=False, via="anonymous")
