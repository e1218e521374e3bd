"""Users, API tokens, memberships, token scopes and signed bearer tokens, shared by registry, git and CI.

Other packages import only from here (never `dockyard.auth.<module>`):
    AuthService, AuthError, User, ApiToken     users, tokens, memberships, the one namespace
    Principal, Role, ANONYMOUS                 who is asking and what they hold in a namespace
    AuthHeader, parse_authorization            an Authorization header, parsed, not judged
    is_write, missing_scope, ScopeError        Gitea's token scopes (see dockyard.auth.scopes)
    Namespace, NamespaceTaken                  the one namespace of users, orgs and projects
                                               (AuthService.namespace/claim_namespace/project_refusal;
    claim_namespace(conn, name, kind)          claim inside the caller's own transaction)
    TokenSigner, JWTError, MIGRATIONS
    hash_password, verify_password, generate_secret   scrypt hashes and random secrets
"""

from dockyard.auth.basic import AuthHeader, parse_authorization
from dockyard.auth.jwt import JWTError, TokenSigner
from dockyard.auth.migrations import MIGRATIONS
from dockyard.auth.namespaces import Namespace, NamespaceTaken
from dockyard.auth.namespaces import claim as claim_namespace
from dockyard.auth.passwords import generate_secret, hash_password, verify_password
from dockyard.auth.principal import ANONYMOUS, Principal, Role
from dockyard.auth.scopes import ScopeError, is_write
from dockyard.auth.scopes import missing as missing_scope
from dockyard.auth.service import ApiToken, AuthError, AuthService, User

__all__ = [
    "ANONYMOUS",
    "ApiToken",
    "AuthError",
    "AuthService",
    "AuthHeader",
    "JWTError",
    "MIGRATIONS",
    "Namespace",
    "NamespaceTaken",
    "Principal",
    "Role",
    "ScopeError",
    "TokenSigner",
    "claim_namespace",
    "generate_secret",
    "hash_password",
    "verify_password",
    "User",
    "is_write",
    "missing_scope",
    "parse_authorization",
]
