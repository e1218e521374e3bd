"""Users, API tokens, memberships and signed bearer tokens, shared by registry, git and CI."""

from dockyard.auth.credentials import Credentials, parse_authorization
from dockyard.auth.jwt import JWTError, TokenSigner
from dockyard.auth.migrations import MIGRATIONS
from dockyard.auth.principal import ANONYMOUS, Principal, Role
from dockyard.auth.service import AuthError, AuthService

__all__ = [
    "ANONYMOUS",
    "AuthError",
    "AuthService",
    "Credentials",
    "JWTError",
    "MIGRATIONS",
    "Principal",
    "Role",
    "TokenSigner",
    "parse_authorization",
]
