"""Users, API tokens and memberships over the shared database.

Every component authenticates through `AuthService.authenticate`, so a password or an API
token that works for `git push` works for `skopeo copy` and for the CI API too.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from dockyard.auth import namespaces
from dockyard.auth.basic import AuthHeader
from dockyard.auth.namespaces import Namespace, NamespaceTaken
from dockyard.auth.passwords import generate_secret, hash_password, verify_password
from dockyard.auth.principal import ANONYMOUS, Principal, Role
from dockyard.auth.scopes import ScopeError
from dockyard.auth.scopes import normalize as normalize_scopes
from dockyard.auth.scopes import parse as parse_scopes
from dockyard.store import Database, update_row, utcnow

log = logging.getLogger(__name__)
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,38}$")
_VERIFIED_TTL = 60.0


class AuthError(Exception):
    """A request to change users or tokens that cannot be done; the message says why."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    email: str
    full_name: str
    is_admin: bool
    created_at: str
    disabled: bool = False

    @classmethod
    def from_row(cls, row: Any) -> User:
        return cls(row.id, row.username, row.email, row.full_name, bool(row.is_admin), row.created_at,
                   bool(row.disabled))


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    last_eight: str
    scopes: str
    created_at: str


class AuthService:
    def __init__(self, db: Database) -> None:
        self.db = db
        # scrypt is deliberately slow; git and basic-auth registry clients authenticate on every
        # request, so a verified (user, secret) pair is remembered for a minute by its hash.
        self._verified: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    # users -----------------------------------------------------------------
    def create_user(
        self,
        username: str,
        password: str,
        *,
        email: str = "",
        full_name: str = "",
        is_admin: bool = False,
    ) -> User:
        if not USERNAME_RE.match(username):
            raise AuthError(f"invalid username {username!r}: use letters, digits, '.', '_' or '-' (max 39)")
        if len(password) < 1:
            raise AuthError("password must not be empty")
        with self.db.transaction() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM users WHERE lower(username) = lower(:u)"), {"u": username}
            ).first()
            if exists:
                raise AuthError(f"user {username!r} already exists")
            try:  # only administrators create users: one adopts a stand-alone project's name
                adopted = namespaces.claim(conn, username, "user", adopt_project=True)
            except NamespaceTaken as exc:
                raise AuthError(str(exc)) from None
            conn.execute(
                text(
                    "INSERT INTO users (username, email, full_name, password_hash, is_admin,"
                    " created_at) VALUES (:u, :e, :f, :p, :a, :c)"
                ),
                {
                    "u": username,
                    "e": email,
                    "f": full_name,
                    "p": hash_password(password),
                    "a": is_admin,
                    "c": utcnow().isoformat(),
                },
            )
        if adopted:
            log.info("user %s adopts the registry project of the same name", username)
        user = self.get_user(username)
        assert user is not None
        return user

    def get_user(self, username: str) -> User | None:
        with self.db.read() as conn:
            row = conn.execute(
                text("SELECT * FROM users WHERE lower(username) = lower(:u)"), {"u": username}
            ).first()
        return User.from_row(row) if row else None

    def list_users(self) -> list[User]:
        with self.db.read() as conn:
            rows = conn.execute(text("SELECT * FROM users ORDER BY id")).all()
        return [User.from_row(r) for r in rows]

    def set_password(self, username: str, password: str) -> None:
        with self.db.transaction() as conn:
            result = conn.execute(  # a new epoch: refresh tokens from password logins stop working
                text("UPDATE users SET password_hash = :p, password_epoch = password_epoch + 1"
                     " WHERE lower(username) = lower(:u)"),
                {"p": hash_password(password), "u": username},
            )
            if result.rowcount == 0:
                raise AuthError(f"no such user {username!r}")
        with self._lock:
            self._verified.clear()

    def ensure_admin(self, username: str, password: str | None) -> str | None:
        """Create the administrator on first start. Returns the password if one was generated."""
        if self.get_user(username) is not None:
            if password:
                self.set_password(username, password)
            return None
        generated = None
        if not password:
            password = generated = generate_secret(12)
        self.create_user(username, password, is_admin=True)
        return generated

    def set_disabled(self, username: str, disabled: bool) -> User:
        """Disable (or enable again) a user: a disabled one's password, tokens, sessions and
        derived registry tokens stop working at once; their data stays. The last enabled
        administrator cannot be disabled (nobody could administer the server any more)."""
        return self._set_flag(username, "disabled", disabled)

    def set_admin(self, username: str, admin: bool) -> User:
        """Make a user an administrator or a plain user again; the last enabled administrator
        cannot be demoted."""
        return self._set_flag(username, "is_admin", admin)

    def _set_flag(self, username: str, column: str, value: bool) -> User:
        assert column in ("disabled", "is_admin")
        with self.db.transaction() as conn:
            row = conn.execute(text("SELECT id, is_admin, disabled FROM users"
                                    " WHERE lower(username) = lower(:u)"), {"u": username}).first()
            if row is None:
                raise AuthError(f"no such user {username!r}")
            takes_admin = bool(row.is_admin) and not row.disabled and (
                (column == "disabled" and value) or (column == "is_admin" and not value))
            if takes_admin:
                others = conn.execute(
                    text("SELECT count(*) FROM users WHERE is_admin = :t AND disabled = :f AND id != :i"),
                    {"t": True, "f": False, "i": row.id}).scalar()
                if not others:
                    raise AuthError(f"{username} is the last enabled administrator: make another user an"
                                    " administrator first")
            update_row(conn, "users", {"id": row.id}, {column: value})
        with self._lock:  # remembered credentials carry the old flags
            self._verified.clear()
        user = self.get_user(username)
        assert user is not None
        return user

    def delete_user(self, username: str) -> None:
        with self.db.transaction() as conn:
            if conn.execute(text("DELETE FROM users WHERE lower(username) = lower(:u)"),
                            {"u": username}).rowcount:
                namespaces.release(conn, username, "user")
        with self._lock:
            self._verified.clear()

    # API tokens --------------------------------------------------------------
    def create_token(self, username: str, name: str, scopes: str = "all") -> tuple[ApiToken, str]:
        """Returns the token record and its secret; the secret is never stored or shown again."""
        user = self.get_user(username)
        if user is None:
            raise AuthError(f"no such user {username!r}")
        if not name.strip():
            raise AuthError("token name must not be empty")
        try:
            scopes = normalize_scopes(scopes.split(","))
        except ScopeError as exc:
            raise AuthError(str(exc)) from None
        secret = generate_secret(20)
        with self.db.transaction() as conn:
            if conn.execute(
                text("SELECT 1 FROM api_tokens WHERE user_id = :i AND name = :n"),
                {"i": user.id, "n": name},
            ).first():
                raise AuthError(f"access token name {name!r} has been used already")
            conn.execute(
                text(
                    "INSERT INTO api_tokens (user_id, name, token_hash, last_eight, scopes,"
                    " created_at) VALUES (:i, :n, :h, :l, :s, :c)"
                ),
                {
                    "i": user.id,
                    "n": name,
                    "h": _sha256(secret),
                    "l": secret[-8:],
                    "s": scopes,
                    "c": utcnow().isoformat(),
                },
            )
            row = conn.execute(
                text("SELECT * FROM api_tokens WHERE token_hash = :h"), {"h": _sha256(secret)}
            ).one()
        return ApiToken(row.id, row.name, row.last_eight, row.scopes, row.created_at), secret

    def list_tokens(self, username: str) -> list[ApiToken]:
        with self.db.read() as conn:
            rows = conn.execute(
                text(
                    "SELECT t.* FROM api_tokens t JOIN users u ON u.id = t.user_id"
                    " WHERE lower(u.username) = lower(:u) ORDER BY t.id"
                ),
                {"u": username},
            ).all()
        return [ApiToken(r.id, r.name, r.last_eight, r.scopes, r.created_at) for r in rows]

    def delete_token(self, username: str, id_or_name: str) -> bool:
        with self.db.transaction() as conn:
            user = conn.execute(
                text("SELECT id FROM users WHERE lower(username) = lower(:u)"), {"u": username}
            ).first()
            if user is None:
                return False
            token_id = _small_id(id_or_name)
            column = "name" if token_id is None else "id"
            result = conn.execute(
                text(f"DELETE FROM api_tokens WHERE user_id = :i AND {column} = :v"),
                {"i": user.id, "v": id_or_name if token_id is None else token_id},
            )
        with self._lock:
            self._verified.clear()
        return bool(result.rowcount)

    # authentication ----------------------------------------------------------
    def authenticate(self, creds: AuthHeader | None) -> Principal | None:
        """ANONYMOUS for no credentials, a Principal for valid ones, None for invalid ones.

        Basic auth accepts the password or an API token as the secret (git and docker clients
        only speak basic); `token`/`bearer` accept an API token. Registry JWTs are verified by
        the registry, which knows their scopes.
        """
        if creds is None:
            return ANONYMOUS
        cache_key = _sha256(f"{creds.scheme}\0{creds.username}\0{creds.secret}")
        now = time.monotonic()
        with self._lock:
            hit = self._verified.get(cache_key)
            if hit and hit[0] > now:
                return hit[1]
        principal = self._authenticate_uncached(creds)
        if principal is not None:
            with self._lock:
                if len(self._verified) > 10_000:
                    self._verified.clear()
                self._verified[cache_key] = (now + _VERIFIED_TTL, principal)
        return principal

    def _authenticate_uncached(self, creds: AuthHeader) -> Principal | None:
        if creds.scheme == "basic":
            user = self._user_row(creds.username)
            if user is None or user.disabled:
                return None
            if verify_password(creds.secret, user.password_hash):
                return Principal(user.id, user.username, bool(user.is_admin), "password",
                                 origin=f"password:{user.password_epoch}")
            token_user = self._token_user(creds.secret)
            if token_user is not None and token_user.id == user.id:
                return _token_principal(token_user)
            return None
        token_user = self._token_user(creds.secret)
        if token_user is None or token_user.disabled:
            return None
        return _token_principal(token_user)

    def _user_row(self, username: str) -> Any:
        with self.db.read() as conn:
            return conn.execute(
                text("SELECT * FROM users WHERE lower(username) = lower(:u)"), {"u": username}
            ).first()

    def _token_user(self, secret: str) -> Any:
        with self.db.read() as conn:
            return conn.execute(
                text("SELECT u.*, t.scopes AS token_scopes, t.id AS token_id FROM api_tokens t"
                     " JOIN users u ON u.id = t.user_id WHERE t.token_hash = :h"),
                {"h": _sha256(secret)},
            ).first()

    def origin_valid(self, user_id: int, origin: str) -> bool:
        """Whether the credential a derived token came from still stands: its API token was not
        deleted, or the password was not changed since (see Principal.origin)."""
        kind, _, value = origin.partition(":")
        number = _small_id(value)
        if number is None:
            return False
        with self.db.read() as conn:
            if kind == "token":
                row = conn.execute(text("SELECT 1 FROM api_tokens t JOIN users u ON u.id = t.user_id"
                                        " WHERE t.id = :t AND t.user_id = :u AND u.disabled = :f"),
                                   {"t": number, "u": user_id, "f": False}).first()
                return row is not None
            if kind == "password":
                row = conn.execute(text("SELECT password_epoch, disabled FROM users WHERE id = :u"),
                                   {"u": user_id}).first()
                return row is not None and not row.disabled and int(row.password_epoch) == number
        return False

    # the one namespace ----------------------------------------------------------
    def namespace(self, name: str) -> Namespace | None:
        """Who holds `name`: a user, an org or a stand-alone registry project; None when free."""
        with self.db.read() as conn:
            return namespaces.lookup(conn, name)

    def claim_namespace(self, name: str, kind: str) -> None:
        """Take a free name for a new org or stand-alone project; NamespaceTaken otherwise."""
        with self.db.transaction() as conn:
            namespaces.claim(conn, name, kind)

    def release_namespace(self, name: str, kind: str) -> None:
        with self.db.transaction() as conn:
            namespaces.release(conn, name, kind)

    def project_refusal(self, principal: Principal, name: str) -> str | None:
        """Why `principal` may not create registry project `name` (None: they may)."""
        return namespaces.project_refusal(self.namespace(name), principal,
                                          self.role_in(principal, name), name)

    # memberships -------------------------------------------------------------
    def grant(self, namespace: str, username: str, role: Role) -> None:
        user = self.get_user(username)
        if user is None:
            raise AuthError(f"no such user {username!r}")
        with self.db.transaction() as conn:
            conn.execute(
                text(
                    "INSERT INTO memberships (namespace, user_id, role) VALUES (:n, :u, :r)"
                    " ON CONFLICT (namespace, user_id) DO UPDATE SET role = excluded.role"
                ),
                {"n": namespace, "u": user.id, "r": int(role)},
            )

    def revoke(self, namespace: str, username: str) -> None:
        user = self.get_user(username)
        if user is None:
            return
        with self.db.transaction() as conn:
            conn.execute(
                text("DELETE FROM memberships WHERE namespace = :n AND user_id = :u"),
                {"n": namespace, "u": user.id},
            )

    def role_in(self, principal: Principal, namespace: str) -> Role:
        """The principal's role in a namespace (project, org or user); admins are ADMIN everywhere
        and a user is ADMIN of the namespace named after them."""
        if principal.is_anonymous:
            return Role.NONE
        if principal.is_admin or principal.username.lower() == namespace.lower():
            return Role.ADMIN
        with self.db.read() as conn:
            row = conn.execute(
                text("SELECT role FROM memberships WHERE namespace = :n AND user_id = :u"),
                {"n": namespace, "u": principal.user_id},
            ).first()
        return Role(row.role) if row else Role.NONE

    def members(self, namespace: str) -> list[tuple[str, Role]]:
        with self.db.read() as conn:
            rows = conn.execute(
                text(
                    "SELECT u.username, m.role FROM memberships m JOIN users u ON u.id = m.user_id"
                    " WHERE m.namespace = :n ORDER BY u.username"
                ),
                {"n": namespace},
            ).all()
        return [(r.username, Role(r.role)) for r in rows]


def _small_id(value: str) -> int | None:
    """`value` as a row id when it is 1-18 ASCII digits (`dockyard.http.small_int`'s rule; auth
    sits below http): '²' passes `isdigit()` but not `int()`, 20 digits overflow SQLite."""
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _token_principal(row: Any) -> Principal:
    """The user behind an API token, limited to the token's scopes."""
    return Principal(row.id, row.username, bool(row.is_admin), "token",
                     parse_scopes(row.token_scopes), origin=f"token:{row.token_id}")
