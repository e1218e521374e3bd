"""Browser sessions and the failed-login limiter.

A session is a random id in an HttpOnly cookie; the database keeps only its SHA-256, the user,
the form token (CSRF) and the password epoch it was opened under. Signing out deletes the row,
so a stolen cookie dies with it; a password change (new epoch) ends every session of the user.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from dockyard.auth import Principal
from dockyard.http import small_int
from dockyard.store import Database

SESSION_TTL = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    def __init__(self, db: Database, ttl: float = SESSION_TTL) -> None:
        self.db = db
        self.ttl = ttl

    def open(self, principal: Principal) -> str:
        """A new session for a user who just proved their password; returns the cookie value."""
        assert principal.user_id is not None
        session_id = secrets.token_urlsafe(32)
        kind, _, epoch_text = principal.origin.partition(":")
        epoch = (small_int(epoch_text) or 0) if kind == "password" else 0
        now = time.time()
        self.db.write(
            "DELETE FROM ui_sessions WHERE expires_at < :now", now=now,
        )
        self.db.write(
            "INSERT INTO ui_sessions (id_hash, user_id, csrf, password_epoch, created_at, expires_at)"
            " VALUES (:h, :u, :c, :e, :now, :exp)",
            h=_hash(session_id), u=principal.user_id, c=secrets.token_urlsafe(32), e=epoch,
            now=now, exp=now + self.ttl,
        )
        return session_id

    def lookup(self, session_id: str | None) -> Session | None:
        """The live session for a cookie value; None when unknown, expired, or its user's
        password changed since it was opened, or who was disabled."""
        if not session_id or len(session_id) > 100:
            return None
        row = self.db.row(
            "SELECT s.csrf, s.expires_at, s.password_epoch AS session_epoch, u.id, u.username,"
            " u.is_admin, u.disabled, u.password_epoch FROM ui_sessions s JOIN users u ON u.id = s.user_id"
            " WHERE s.id_hash = :h",
            h=_hash(session_id),
        )
        if row is None or row.expires_at < time.time() or row.session_epoch != row.password_epoch \
                or row.disabled:
            return None
        principal = Principal(row.id, row.username, bool(row.is_admin), "session",
                              origin=f"password:{row.password_epoch}")
        return Session(principal, row.csrf)

    def close(self, session_id: str | None) -> None:
        """Sign-out: the session row is deleted, so the cookie no longer opens anything."""
        if session_id:
            self.db.write("DELETE FROM ui_sessions WHERE id_hash = :h", h=_hash(session_id))


    def close_user(self, user_id: int) -> None:
        """Every session of a user (on disabling them): enabling them again opens none of them."""
        self.db.write("DELETE FROM ui_sessions WHERE user_id = :u", u=user_id)


class LoginLimiter:
    """At most `attempts` failed sign-ins per user name, and `address_attempts` per client
    address (many users may share one behind a proxy), in `window` seconds; further attempts
    are refused (429) until the window has passed."""

    def __init__(self, attempts: int = 5, address_attempts: int = 50, window: float = 300.0) -> None:
        self.limits = {"user": attempts, "addr": address_attempts}
        self.window = window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, username: str, address: str) -> list[str]:
        return [f"user:{username.lower()}", f"addr:{address}"]

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in self._keys(username, address):
                recent = [t for t in self._failures.get(key, []) if t > now - self.window]
                if recent:
                    self._failures[key] = recent
                else:
                    self._failures.pop(key, None)
                if len(recent) >= self.limits[key.partition(":")[0]]:
                    wait = max(wait, recent[0] + self.window - now)
        return int(wait) + 1 if wait else 0

    def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 50_000:  # bounded memory under a spray of names
                self._failures.clear()
            for key in self._keys(username, address):
                self._failures.setdefault(key, []).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{username.lower()}", None)
